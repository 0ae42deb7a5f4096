"""The blog post's architecture study: its experiments expanded into trials (``experiments``), run on Dask into one
results table (``sweep``), and drawn as the post draws them (``figures``); what `pytcn sweep` runs."""
