"""What people read: the Markdown report (built from registered sections), plots, and the text tables of
the end-of-run summary, compare, the gate and the self-check. Returns text; printing is the CLI's."""
