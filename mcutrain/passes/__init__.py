"""Graph passes: pure functions Graph -> Graph, run in the order of pipeline.PIPELINE."""
