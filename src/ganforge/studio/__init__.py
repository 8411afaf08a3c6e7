"""The studio: a browser app and HTTP API over trained generators (FastAPI: `app.py` builds it from `state.py` and the
routers in `routes/`), plus the human-judgement log of its "which is real?" game (`human_eval.py`, also read by
`ganforge eval --human`). Only `app.py` and the modules it imports need the optional `ganforge[studio]` extra; this
package's top level imports nothing heavy."""
