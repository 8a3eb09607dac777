"""Reading and segmenting plan documents."""
