"""The Streamlit review app (`aligner review DATASET`): queue, review and stats pages."""
