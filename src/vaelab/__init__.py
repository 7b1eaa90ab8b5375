"""vaelab: train variational autoencoders, then use them.

>>> import vaelab
>>> model = vaelab.VAE(latent_dim=8, epochs=5).fit(X)        # doctest: +SKIP
>>> Z = model.transform(X); X_new = model.sample(16)           # doctest: +SKIP
"""
__version__ = "0.1.0"

from vaelab.errors import VaelabError  # noqa: E402
from vaelab.estimator import VAE, load  # noqa: E402
from vaelab.analysis.diagnostics import diagnose  # noqa: E402
from vaelab.table_vae import TableVAE  # noqa: E402
from vaelab.adopt import adopt  # noqa: E402

__all__ = ["VAE", "TableVAE", "adopt", "load", "diagnose", "VaelabError", "__version__"]
