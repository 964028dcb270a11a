"""The sequencer: queue → verified admission → dedup → integration → signed checkpoint."""
