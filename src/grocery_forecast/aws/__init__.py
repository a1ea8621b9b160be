"""The AWS adapters: client settings and error codes, S3 helpers, the DynamoDB history store, the model
registry, the cached reference tables."""
