"""The pipeline steps the Lambdas run: ETL (validate, store history) and forecast, with their run manifest."""
