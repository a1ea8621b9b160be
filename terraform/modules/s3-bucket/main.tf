################################################################################
# Bucket
################################################################################

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Server access logs would need one more log bucket per environment; object-level audit, where required, is the account's CloudTrail S3 data events
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage for data the stack can rebuild; the one irreplaceable input (raw uploads) is versioned instead
  #checkov:skip=CKV2_AWS_62:Notifications belong to the caller and exist where something consumes them (stack: raw -> etl, processed -> predict); checkov cannot follow them through the module
  bucket        = var.bucket
  force_destroy = var.force_destroy

  tags = var.tags
}

# ACLs disabled: the bucket owner owns every object, access is decided by IAM and bucket policies only.
resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # S3 Bucket Keys cut KMS request costs; they mean nothing for SSE-S3.
    bucket_key_enabled = var.kms_key_arn != null
  }
}

# Only managed when enabled: removing it later suspends versioning on the bucket.
resource "aws_s3_bucket_versioning" "this" {
  count = var.versioning_enabled ? 1 : 0

  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

################################################################################
# Lifecycle
################################################################################

# Every bucket gets one: parts of multipart uploads that never completed are invisible, yet billed
# until something deletes them (the Lambda packages and big CSV uploads are multipart).
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  #checkov:skip=CKV_AWS_300:The first rule below aborts incomplete multipart uploads on the whole bucket (asserted by terraform test every_bucket_aborts_incomplete_multipart_uploads); checkov loses static rule blocks once a dynamic rule block renders (expire_prefixes)
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  dynamic "rule" {
    for_each = var.versioning_enabled && var.noncurrent_version_expiration_days != null ? [var.noncurrent_version_expiration_days] : []

    content {
      id     = "expire-noncurrent-versions"
      status = "Enabled"

      filter {}

      noncurrent_version_expiration {
        noncurrent_days = rule.value
      }
    }
  }

  dynamic "rule" {
    for_each = [for prefix, days in var.expire_prefixes : { prefix = prefix, days = days }]

    content {
      id     = "expire-${trim(replace(rule.value.prefix, "/[^A-Za-z0-9-]+/", "-"), "-")}"
      status = "Enabled"

      filter {
        prefix = rule.value.prefix
      }

      expiration {
        days = rule.value.days
      }

      # On a versioned bucket the expiration above only adds a delete marker: the data stays as a noncurrent
      # version, billed until this deletes it. Once it is gone, the delete marker is an expired object delete
      # marker, which S3 removes by itself for a rule with expiration days (ExpiredObjectDeleteMarker cannot
      # be set beside days anyway).
      dynamic "noncurrent_version_expiration" {
        for_each = var.versioning_enabled && var.expire_prefixes_noncurrent_days != null ? [var.expire_prefixes_noncurrent_days] : []

        content {
          noncurrent_days = noncurrent_version_expiration.value
        }
      }
    }
  }

  # Rules about noncurrent versions need versioning in place first.
  depends_on = [aws_s3_bucket_versioning.this]
}

################################################################################
# Policy
################################################################################

locals {
  deny_insecure_transport_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

resource "aws_s3_bucket_policy" "this" {
  count = var.attach_deny_insecure_transport_policy ? 1 : 0

  bucket = aws_s3_bucket.this.id
  policy = local.deny_insecure_transport_policy

  # S3 rejects policy changes while the public access block is being written.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
