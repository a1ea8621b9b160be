"""The pipeline steps the Lambdas run: ETL (validate, store history) and forecast, and the run manifest's
reads and writes in S3 (its fields are ``grocery_forecast.contract.runs``)."""
