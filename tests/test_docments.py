"""Every public parameter of cassava_fa's API is documented on its own line, with a docment (`# ...` after it).

Checked for every module (`MODULES`): every function in a module's `__all__`, the
constructor and the public methods of every class in it, and the methods a module `@patch`es onto other classes
(found through `_modidx`). `self`/`cls` need none, nor a `**kwargs` that `@delegates` replaced by the target's
parameters; a method that overrides one of a cassava_fa base class inherits the base's docments, parameter by
position (`BiTemperedLoss.per_sample(x, target)` is documented by `SoftTargetLoss.per_sample(logits, target)`)."""
import dataclasses, importlib, inspect
import pytest
from fastcore.docments import docments

MODULES = ['core', 'augment', 'data', 'losses', 'callbacks', 'optim', 'mix', 'learner', 'snapshots', 'inference', 'cv',
           'interpret', 'testing', 'cli', 'stacking', 'noisy']

def _own(f)->bool: return (getattr(f, '__module__', None) or '').startswith('cassava_fa')

def _params(f)->list:
    "Names of `f`'s own parameters (not those `@delegates` adds), `self`/`cls` aside; a dataclass's are its fields"
    if inspect.isclass(f): return [k.name for k in dataclasses.fields(f)]
    c = inspect.unwrap(f).__code__   # `@contextmanager` wraps the function
    n = c.co_argcount + c.co_kwonlyargcount + bool(c.co_flags & inspect.CO_VARARGS) + bool(c.co_flags & inspect.CO_VARKEYWORDS)
    return [k for k in c.co_varnames[:n] if k not in ('self', 'cls')]

def _documented(f)->dict:
    "`{parameter: has a docment}` for the parameters `f`'s signature shows"
    return {k: bool(v.docment) for k, v in docments(f, full=True, args_kwargs=True).items()
            if k not in ('self', 'cls', 'return')}

def _inherited(cls, name:str, i:int)->bool:
    "Whether a cassava_fa base class of `cls` documents the `i`-th parameter of its method `name`"
    for b in cls.__mro__[1:]:
        f = b.__dict__.get(name)
        if f is None or not _own(f): continue
        ps = _params(f)
        if i < len(ps) and _documented(f).get(ps[i]): return True
    return False

def _units(mod:str):
    "`(name, function, class or None)` of every public function, constructor and method of `cassava_fa.mod`"
    m = importlib.import_module(f'cassava_fa.{mod}')
    for n in m.__all__:
        o = getattr(m, n)
        if inspect.isfunction(o) and _own(o): yield n, o, None
        if not (inspect.isclass(o) and _own(o)): continue
        if dataclasses.is_dataclass(o): yield n, o, None        # its fields, documented in the class body
        for k, v in o.__dict__.items():
            if k.startswith('_') and (k != '__init__' or dataclasses.is_dataclass(o)): continue
            if isinstance(v, (classmethod, staticmethod)): v = v.__func__
            if inspect.isfunction(v): yield f'{n}.{k}', v, o
    from cassava_fa._modidx import d
    for k in d['syms'].get(m.__name__, {}):   # `@patch`ed methods, e.g. `cassava_fa.core.Learner.fit`
        parts = k.split('.')[2:]
        if len(parts) != 2 or parts[0] in m.__all__ or parts[1].startswith('_'): continue
        f = getattr(getattr(m, parts[0], None), parts[1], None)
        if inspect.isfunction(f) and f.__module__ == m.__name__: yield '.'.join(parts), f, None

def undocumented(mod:str)->list:
    "`'unit(parameter)'` for every public parameter of `cassava_fa.mod` without a docment"
    res = []
    for name, f, cls in _units(mod):
        doc = _documented(f)
        for i, k in enumerate(_params(f)):
            if k not in doc or doc[k]: continue   # not in the signature: a `**kwargs` that `@delegates` replaced
            if cls is not None and f.__name__ != '__init__' and _inherited(cls, f.__name__, i): continue
            res.append(f'{name}({k})')
    return res

@pytest.mark.parametrize('mod', MODULES)
def test_public_parameters_have_docments(mod):
    missing = undocumented(mod)
    assert not missing, f'cassava_fa.{mod}: parameters without a docment: {", ".join(missing)}'

def test_the_check_sees_a_missing_docment():
    "The check itself: an undocumented parameter, a documented one, and an override that inherits by position"
    class Base:
        def f(self,
              a, # documented
             ): ...
    class Sub(Base):
        def f(self, x): ...
    def g(a, b): ...
    for o in (Base.f, Sub.f, g): o.__module__ = 'cassava_fa.fake'
    assert _documented(g) == {'a': False, 'b': False} and _documented(Base.f) == {'a': True}
    assert _inherited(Sub, 'f', 0) and not _inherited(Sub, 'f', 1)
