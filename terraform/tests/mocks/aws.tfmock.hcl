# The account, region and partition every module's ARNs are built from, for the tests' mocked AWS provider:
#   mock_provider "aws" { source = "../../tests/mocks" }   (from a module or an environment directory)
# A mocked provider would otherwise invent random strings, which no ARN assertion could match.

mock_data "aws_caller_identity" {
  defaults = { account_id = "123456789012" }
}

mock_data "aws_region" {
  defaults = { name = "eu-west-1" }
}

mock_data "aws_partition" {
  defaults = { partition = "aws" }
}
