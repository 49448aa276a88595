"""Every gin registration, in one place.

Row files bind the spec dataclasses by their class names (`Claim.fid = 7.27`,
`LossSpec.distance = 'cauchy'`); `recipe` is the one root that gathers them.
"""
import gin

from repro import specs

SPEC_CLASSES = (specs.Claim, specs.DataSpec, specs.ModelSpec, specs.LossSpec, specs.CurriculumSpec,
                specs.OptimSpec, specs.TrainSpec, specs.EvalSpec, specs.RuntimeSpec)

for _cls in SPEC_CLASSES:
    gin.external_configurable(_cls, module="repro")


@gin.configurable(module="repro")
def recipe(claim=gin.REQUIRED, data=gin.REQUIRED, model=gin.REQUIRED, loss=gin.REQUIRED,
           curriculum=gin.REQUIRED, optim=gin.REQUIRED, train=gin.REQUIRED, eval=gin.REQUIRED,
           runtime=None, unconfirmed=()):
    """The root every row resolves through; returns the parts of a `Row` (without its id)."""
    return dict(claim=claim, data=data, model=model, loss=loss, curriculum=curriculum, optim=optim,
                train=train, eval=eval, runtime=runtime or specs.RuntimeSpec(),
                unconfirmed=tuple(unconfirmed))
