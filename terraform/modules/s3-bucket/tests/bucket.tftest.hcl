# The s3-bucket module on a mocked provider.
# Run from terraform/modules/s3-bucket:  terraform init -backend=false && terraform test

mock_provider "aws" {}

override_resource {
  target          = aws_s3_bucket.this
  override_during = plan
  values = {
    arn = "arn:aws:s3:::test-bucket"
    id  = "test-bucket"
  }
}

variables {
  bucket = "test-bucket"
}

run "defaults_are_private_encrypted_and_unversioned" {
  command = plan

  assert {
    condition     = aws_s3_bucket.this.bucket == "test-bucket" && aws_s3_bucket.this.force_destroy == false
    error_message = "The bucket is named by var.bucket and not force-destroyed by default."
  }

  assert {
    condition = (
      aws_s3_bucket_public_access_block.this.block_public_acls &&
      aws_s3_bucket_public_access_block.this.block_public_policy &&
      aws_s3_bucket_public_access_block.this.ignore_public_acls &&
      aws_s3_bucket_public_access_block.this.restrict_public_buckets
    )
    error_message = "All four public access blocks must be on."
  }

  assert {
    condition     = one(aws_s3_bucket_ownership_controls.this.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)."
  }

  assert {
    condition     = output.s3_bucket_sse_algorithm == "AES256"
    error_message = "Default encryption is SSE-S3."
  }

  assert {
    condition     = length(aws_s3_bucket_versioning.this) == 0 && output.s3_bucket_versioning_status == null
    error_message = "Versioning is not managed unless asked for."
  }

  assert {
    condition     = output.s3_bucket_id == "test-bucket" && output.s3_bucket_arn == "arn:aws:s3:::test-bucket"
    error_message = "Outputs must name the bucket."
  }
}

run "every_bucket_aborts_incomplete_multipart_uploads" {
  command = plan

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.this.bucket == "test-bucket"
    error_message = "The lifecycle configuration must be on the bucket."
  }

  assert {
    condition = (
      length(aws_s3_bucket_lifecycle_configuration.this.rule) == 1 &&
      one(aws_s3_bucket_lifecycle_configuration.this.rule).id == "abort-incomplete-multipart-uploads" &&
      one(aws_s3_bucket_lifecycle_configuration.this.rule).status == "Enabled" &&
      one(aws_s3_bucket_lifecycle_configuration.this.rule).abort_incomplete_multipart_upload[0].days_after_initiation == 7
    )
    error_message = "By default the only lifecycle rule aborts incomplete multipart uploads after 7 days."
  }

  assert {
    condition     = length(one(aws_s3_bucket_lifecycle_configuration.this.rule).filter) == 1
    error_message = "The abort rule must have an (empty) filter: it applies to the whole bucket."
  }

  assert {
    condition     = output.s3_bucket_lifecycle_rule_ids == ["abort-incomplete-multipart-uploads"]
    error_message = "s3_bucket_lifecycle_rule_ids must list the enabled rules."
  }
}

run "noncurrent_versions_expire_when_asked_on_a_versioned_bucket" {
  command = plan

  variables {
    versioning_enabled                     = true
    noncurrent_version_expiration_days     = 90
    abort_incomplete_multipart_upload_days = 2
  }

  assert {
    condition     = output.s3_bucket_lifecycle_rule_ids == ["abort-incomplete-multipart-uploads", "expire-noncurrent-versions"]
    error_message = "A versioned bucket with noncurrent_version_expiration_days gets the expiry rule as well."
  }

  assert {
    condition = alltrue([
      for r in aws_s3_bucket_lifecycle_configuration.this.rule :
      r.noncurrent_version_expiration[0].noncurrent_days == 90 if r.id == "expire-noncurrent-versions"
    ])
    error_message = "Noncurrent versions must expire after noncurrent_version_expiration_days."
  }

  assert {
    condition = alltrue([
      for r in aws_s3_bucket_lifecycle_configuration.this.rule :
      r.abort_incomplete_multipart_upload[0].days_after_initiation == 2 if r.id == "abort-incomplete-multipart-uploads"
    ])
    error_message = "abort_incomplete_multipart_upload_days must be passed through."
  }
}

run "objects_under_a_prefix_expire_when_asked" {
  command = plan

  variables {
    expire_prefixes = { "shards/" = 3 }
  }

  assert {
    condition     = output.s3_bucket_lifecycle_rule_ids == ["abort-incomplete-multipart-uploads", "expire-shards"]
    error_message = "Each expiring prefix gets its own rule, named after the prefix."
  }

  assert {
    condition = alltrue([
      for r in aws_s3_bucket_lifecycle_configuration.this.rule :
      r.filter[0].prefix == "shards/" && r.expiration[0].days == 3 if r.id == "expire-shards"
    ])
    error_message = "Objects under the prefix (and only there) must expire after the given days."
  }
}

run "an_expiring_prefix_on_an_unversioned_bucket_has_no_noncurrent_rule" {
  command = plan

  variables {
    expire_prefixes = { "shards/" = 3 }
  }

  assert {
    condition     = output.s3_bucket_noncurrent_expiring_prefixes == {}
    error_message = "Without versioning an expired object is gone at once: no noncurrent-version expiry."
  }
}

# On a versioned bucket, expiring only puts a delete marker over the object: its data stays as a noncurrent
# version, billed forever unless the same rule also deletes noncurrent versions.
run "an_expiring_prefix_on_a_versioned_bucket_deletes_its_noncurrent_versions" {
  command = plan

  variables {
    versioning_enabled = true
    expire_prefixes    = { "work/parts/" = 7 }
  }

  assert {
    condition     = output.s3_bucket_lifecycle_rule_ids == ["abort-incomplete-multipart-uploads", "expire-work-parts"]
    error_message = "Only the prefix's rule is added: the rest of the bucket keeps every version."
  }

  assert {
    condition = alltrue([
      for r in aws_s3_bucket_lifecycle_configuration.this.rule :
      r.filter[0].prefix == "work/parts/" &&
      r.expiration[0].days == 7 &&
      r.noncurrent_version_expiration[0].noncurrent_days == 1
      if r.id == "expire-work-parts"
    ])
    error_message = "The prefix's rule must expire current objects after its days and their noncurrent versions 1 day later (by default)."
  }

  assert {
    condition     = output.s3_bucket_noncurrent_expiring_prefixes == { "work/parts/" = 1 } && output.s3_bucket_expiring_prefixes == { "work/parts/" = 7 }
    error_message = "The outputs must name the prefix, its expiry and its noncurrent-version expiry."
  }
}

run "noncurrent_versions_under_an_expiring_prefix_can_be_kept_longer" {
  command = plan

  variables {
    versioning_enabled              = true
    expire_prefixes                 = { "work/parts/" = 7 }
    expire_prefixes_noncurrent_days = 3
  }

  assert {
    condition     = output.s3_bucket_noncurrent_expiring_prefixes == { "work/parts/" = 3 }
    error_message = "expire_prefixes_noncurrent_days must be passed through."
  }
}

run "noncurrent_versions_under_an_expiring_prefix_can_be_kept" {
  command = plan

  variables {
    versioning_enabled              = true
    expire_prefixes                 = { "work/parts/" = 7 }
    expire_prefixes_noncurrent_days = null
  }

  assert {
    condition     = output.s3_bucket_noncurrent_expiring_prefixes == {} && output.s3_bucket_expiring_prefixes == { "work/parts/" = 7 }
    error_message = "expire_prefixes_noncurrent_days = null leaves the noncurrent versions alone."
  }
}

run "noncurrent_days_under_an_expiring_prefix_must_be_whole" {
  command = plan

  variables {
    expire_prefixes_noncurrent_days = 0.5
  }

  expect_failures = [var.expire_prefixes_noncurrent_days]
}

run "an_expiring_prefix_needs_whole_days" {
  command = plan

  variables {
    expire_prefixes = { "shards/" = 0.5 }
  }

  expect_failures = [var.expire_prefixes]
}

run "noncurrent_expiry_needs_versioning" {
  command = plan

  variables {
    noncurrent_version_expiration_days = 90
  }

  assert {
    condition     = output.s3_bucket_lifecycle_rule_ids == ["abort-incomplete-multipart-uploads"]
    error_message = "An unversioned bucket has no noncurrent versions: no expiry rule."
  }
}

run "tls_only_policy" {
  command = plan

  assert {
    condition = jsondecode(aws_s3_bucket_policy.this[0].policy).Statement == [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = ["arn:aws:s3:::test-bucket", "arn:aws:s3:::test-bucket/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
    error_message = "The bucket policy must deny every non-TLS request."
  }
}

run "tls_only_policy_can_be_left_out" {
  command = plan

  variables {
    attach_deny_insecure_transport_policy = false
  }

  assert {
    condition     = length(aws_s3_bucket_policy.this) == 0
    error_message = "No bucket policy when attach_deny_insecure_transport_policy = false."
  }
}

run "versioning_and_force_destroy" {
  command = plan

  variables {
    versioning_enabled = true
    force_destroy      = true
  }

  assert {
    condition     = aws_s3_bucket_versioning.this[0].versioning_configuration[0].status == "Enabled" && output.s3_bucket_versioning_status == "Enabled"
    error_message = "versioning_enabled = true must enable versioning."
  }

  assert {
    condition     = aws_s3_bucket.this.force_destroy
    error_message = "force_destroy must be passed through."
  }
}

run "kms_encryption" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition = (
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555" &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled
    )
    error_message = "A KMS key switches the default encryption to SSE-KMS with a bucket key."
  }
}

run "bucket_name_is_validated" {
  command = plan

  variables {
    bucket = "Not_A_Bucket"
  }

  expect_failures = [var.bucket]
}

run "kms_key_must_be_an_arn" {
  command = plan

  variables {
    kms_key_arn = "alias/my-key"
  }

  expect_failures = [var.kms_key_arn]
}

run "abort_days_must_be_positive" {
  command = plan

  variables {
    abort_incomplete_multipart_upload_days = 0
  }

  expect_failures = [var.abort_incomplete_multipart_upload_days]
}

run "noncurrent_days_must_be_positive" {
  command = plan

  variables {
    noncurrent_version_expiration_days = 0
  }

  expect_failures = [var.noncurrent_version_expiration_days]
}

run "expiring_prefixes_whose_rule_ids_would_repeat_are_refused" {
  command = plan

  variables {
    expire_prefixes = { "work/parts/" = 1, "work-parts/" = 2 }
  }

  expect_failures = [var.expire_prefixes]
}

run "an_expiring_prefix_cannot_take_the_noncurrent_rules_id" {
  command = plan

  variables {
    expire_prefixes = { "noncurrent/versions/" = 1 }
  }

  expect_failures = [var.expire_prefixes]
}
