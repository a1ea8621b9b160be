"""The data contract: CSV schemas, validation and cleaning, reference tables, file kinds.

Pure: no AWS, no model. Everything else imports from here; it imports nothing of the project.
"""
