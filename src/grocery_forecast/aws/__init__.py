"""The AWS adapters: S3 helpers and error codes, the DynamoDB history store, the model registry."""
