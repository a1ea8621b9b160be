# The dynamodb-table module on a mocked provider.
# Run from terraform/modules/dynamodb-table:  terraform init -backend=false && terraform test

mock_provider "aws" {}

variables {
  name = "test-history"
}

run "history_table_defaults" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.this.name == "test-history" && aws_dynamodb_table.this.billing_mode == "PAY_PER_REQUEST"
    error_message = "The table is on-demand (PAY_PER_REQUEST)."
  }

  assert {
    condition     = aws_dynamodb_table.this.hash_key == "series" && aws_dynamodb_table.this.range_key == "bucket"
    error_message = "Keys default to series (hash) and bucket (range)."
  }

  assert {
    condition     = aws_dynamodb_table.this.attribute == toset([{ name = "series", type = "S" }, { name = "bucket", type = "S" }])
    error_message = "Exactly the two key attributes are declared, both strings."
  }

  assert {
    condition     = aws_dynamodb_table.this.server_side_encryption[0].enabled && output.dynamodb_table_server_side_encryption_enabled
    error_message = "Server-side encryption must be enabled."
  }

  assert {
    condition     = aws_dynamodb_table.this.point_in_time_recovery[0].enabled && output.dynamodb_table_point_in_time_recovery_enabled
    error_message = "Point-in-time recovery is on by default."
  }

  assert {
    condition     = aws_dynamodb_table.this.deletion_protection_enabled == false
    error_message = "Deletion protection is off by default."
  }
}

run "protection_follows_the_variables" {
  command = plan

  variables {
    point_in_time_recovery_enabled = false
    deletion_protection_enabled    = true
    kms_key_arn                    = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition     = aws_dynamodb_table.this.point_in_time_recovery[0].enabled == false
    error_message = "point_in_time_recovery_enabled = false must disable PITR."
  }

  assert {
    condition     = aws_dynamodb_table.this.deletion_protection_enabled
    error_message = "deletion_protection_enabled must be passed through."
  }

  assert {
    condition     = aws_dynamodb_table.this.server_side_encryption[0].kms_key_arn == "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    error_message = "kms_key_arn must select the customer managed key."
  }
}

run "table_name_is_validated" {
  command = plan

  variables {
    name = "no spaces allowed"
  }

  expect_failures = [var.name]
}
