################################################################################
# Bucket
################################################################################

variable "bucket" {
  description = "Name of the bucket (3..63 characters: lowercase letters, digits and hyphens, starting and ending with a letter or digit). Dots are not allowed so path-style and virtual-host addressing both work."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket)) && !startswith(var.bucket, "xn--") && !endswith(var.bucket, "-s3alias")
    error_message = "bucket must be 3..63 characters of lowercase letters, digits and hyphens, start and end with a letter or digit, not start with \"xn--\" and not end with \"-s3alias\"."
  }
}

variable "force_destroy" {
  description = "Delete every object (and every object version) when the bucket is destroyed. Handy for throw-away environments; leave false for anything holding data you care about."
  type        = bool
  default     = false
}

variable "versioning_enabled" {
  description = "Enable object versioning. Turning it off later suspends versioning (existing versions are kept)."
  type        = bool
  default     = false
}

################################################################################
# Lifecycle
################################################################################

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which the parts of a multipart upload that was never completed are deleted, 1..365."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && var.abort_incomplete_multipart_upload_days <= 365 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of days between 1 and 365."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days an object version is kept after it was overwritten or deleted (versioned buckets only). null (the default) keeps every version forever."
  type        = number
  default     = null

  validation {
    condition     = var.noncurrent_version_expiration_days == null || try(var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days, false)
    error_message = "noncurrent_version_expiration_days must be null or a whole number of days >= 1."
  }
}

variable "expire_prefixes" {
  description = "Key prefixes whose objects are deleted a number of days after they were written: prefix => days (working files nobody reads after a run, for example). Empty (the default) expires nothing."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for prefix, days in var.expire_prefixes : length(prefix) > 0 && days >= 1 && floor(days) == days])
    error_message = "expire_prefixes must map non-empty key prefixes to whole numbers of days >= 1."
  }

  validation {
    # Each prefix's rule id is "expire-" + the prefix with every run of other characters than letters, digits
    # and "-" made one "-" (main.tf): S3 refuses a configuration whose rule ids repeat (among themselves or with
    # the fixed "expire-noncurrent-versions") or pass 255 characters.
    condition = length(distinct([
      for prefix in keys(var.expire_prefixes) : trim(replace(prefix, "/[^A-Za-z0-9-]+/", "-"), "-")
      ])) == length(var.expire_prefixes) && alltrue([
      for prefix in keys(var.expire_prefixes) : !contains(["noncurrent-versions"], trim(replace(prefix, "/[^A-Za-z0-9-]+/", "-"), "-")) && length(trim(replace(prefix, "/[^A-Za-z0-9-]+/", "-"), "-")) <= 248
    ])
    error_message = "expire_prefixes must differ in more than punctuation (\"a/b/\" and \"a-b/\" would both be rule \"expire-a-b\"), not fold to \"noncurrent-versions\" (a fixed rule's id) and stay within 248 characters once punctuation is folded."
  }
}

variable "expire_prefixes_noncurrent_days" {
  description = "Days an object version under one of expire_prefixes is kept after it became noncurrent (versioned buckets only): there the prefix's expiration only puts a delete marker over the object, and this deletes the data for good (S3 then removes the delete marker left alone). null keeps those versions, billed, unless noncurrent_version_expiration_days deletes them."
  type        = number
  default     = 1

  validation {
    condition     = var.expire_prefixes_noncurrent_days == null || try(var.expire_prefixes_noncurrent_days >= 1 && floor(var.expire_prefixes_noncurrent_days) == var.expire_prefixes_noncurrent_days, false)
    error_message = "expire_prefixes_noncurrent_days must be null or a whole number of days >= 1."
  }
}

################################################################################
# Encryption
################################################################################

variable "kms_key_arn" {
  description = "ARN of a KMS key for SSE-KMS default encryption. When null (the default) the bucket uses SSE-S3 (AES256)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:...)."
  }
}

################################################################################
# Policy
################################################################################

variable "attach_deny_insecure_transport_policy" {
  description = "Attach a bucket policy that denies every request not made over TLS (aws:SecureTransport = false)."
  type        = bool
  default     = true
}

################################################################################
# Tags
################################################################################

variable "tags" {
  description = "Tags applied to the bucket."
  type        = map(string)
  default     = {}
}
