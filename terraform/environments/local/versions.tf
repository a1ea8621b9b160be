terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  # Local state (terraform.tfstate next to this file, git-ignored): the emulator is disposable.
}
