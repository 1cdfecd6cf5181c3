"""The `morph` command line: `app.py` registers one module per command area.

    data.py       morph data list | generate | convert | inspect
    pretrain.py   morph pretrain
    finetune.py   morph finetune
    evaluate.py   morph rollout, morph evaluate
    official.py   morph import-official
    options.py    --option parsing and the one flags -> config merge
"""

from morph.cli.app import app, main

__all__ = ["app", "main"]
