__version__ = "0.0.1"

import warnings as _warnings
# fastai calls torch.jit.script at import time, and torch 2.14 warns about it on every import: nothing a user can act on.
_warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)
