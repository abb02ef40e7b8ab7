"""Code generators. Each backend reads the IR (`nndsl.ir`) and the structure tree
(`structure`), builds a plain render model, and renders Jinja templates from `templates/`."""
