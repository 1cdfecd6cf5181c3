"""The `morph` command line: `app.py` registers one module per command area.

    data.py       morph data list | generate | convert | inspect
    pretrain.py   morph pretrain
    official.py   morph import-official
    options.py    --option parsing and the one flags -> config merge
    plugins.py    the entry-point groups through which the packages above morph add commands:
                  adapters/cli.py (morph finetune), rollouts/cli.py (morph rollout, morph evaluate)
"""

from morph.cli.app import app, main

__all__ = ["app", "main"]
