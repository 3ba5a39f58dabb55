"""The gateway: bytes from the edges become stored messages.

normalize   raw bytes -> Envelope (pure); its parts in addresses, headers, bodies, ...
intake      what edges hand to ingest (Incoming, SourceFacts) and the IngestReport
ingest      Ingestor: store bytes durably, then messages, copies, threads and records
threading   jwz-style thread assignment
files       mbox, Maildir and .eml sources; importer: importing them in batches
workers     the normalize process pool
"""
