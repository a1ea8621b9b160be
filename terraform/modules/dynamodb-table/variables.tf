################################################################################
# Table
################################################################################

variable "name" {
  description = "Name of the table (3..255 characters: letters, digits, underscore, hyphen, dot)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.name))
    error_message = "name must be 3..255 characters of letters, digits, \"_\", \"-\" or \".\"."
  }
}

variable "hash_key" {
  description = "Partition key attribute (type S). The forecasting history keys each series as \"<store_nbr>#<item_nbr>\"."
  type        = string
  default     = "series"
}

variable "range_key" {
  description = "Sort key attribute (type S). The forecasting history stores one compact item per series and year plus a few metadata items."
  type        = string
  default     = "bucket"
}

################################################################################
# Protection
################################################################################

variable "point_in_time_recovery_enabled" {
  description = "Enable point-in-time recovery (continuous backups, 35 days)."
  type        = bool
  default     = true
}

variable "deletion_protection_enabled" {
  description = "Refuse DeleteTable while enabled (turn it off, apply, then destroy)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key for server-side encryption. When null (the default) the AWS managed key (aws/dynamodb) is used."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:...)."
  }
}

################################################################################
# Tags
################################################################################

variable "tags" {
  description = "Tags applied to the table."
  type        = map(string)
  default     = {}
}
