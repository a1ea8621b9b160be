terraform {
  required_version = ">= 1.5"

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
  #   use_lockfile = true                                    # S3-native locking, Terraform >= 1.10
  #   # dynamodb_table = "terraform-locks"                   # older Terraform: DynamoDB locking instead
  backend "s3" {}
}
