"""okta-itdr daemon: ingest, stream, respond, ops. Detections live in the `detections` package."""
