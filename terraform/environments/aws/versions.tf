terraform {
  # 1.10: the S3 backend's native locking (use_lockfile, below and in the README's backend.hcl) exists only
  # from Terraform 1.10; an older CLI rejects that setting at init. (The local root, with local state, needs 1.5.)
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  # Remote state in S3. Fill in the settings here or, better, keep them out of the code:
  #   terraform init -backend-config=backend.hcl
  # with a backend.hcl such as:
  #   bucket       = "my-terraform-state-bucket"             # existing, versioned bucket
  #   key          = "grocery-forecast/terraform.tfstate"
  #   region       = "us-east-1"
  #   encrypt      = true
  #   use_lockfile = true                                    # S3-native locking (why required_version is 1.10)
  #   # dynamodb_table = "terraform-locks"                   # DynamoDB locking instead: deprecated from 1.11
  backend "s3" {}
}
