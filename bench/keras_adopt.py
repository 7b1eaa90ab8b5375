"""A Keras VAE, exported to ONNX with tf2onnx, adopted by vaelab; its report checked in headless Chromium.

Two interpreters, as a user would have them: TensorFlow/Keras and tf2onnx live in a venv of
their own (``make keras-install`` → ``.venv-keras``), vaelab in its. This script runs with
vaelab's Python; it calls ``--export`` with the Keras venv's Python to train the model and write
``encoder.onnx`` and ``decoder.onnx``, then adopts them through the CLI:

    vaelab adopt --encoder encoder.onnx --decoder decoder.onnx --likelihood bernoulli --data x.npy --out RUN
    vaelab inspect RUN; vaelab score RUN; vaelab compare-samplers RUN; vaelab explore RUN traverse; vaelab report RUN

and prints what they found, and what the Keras model's own ELBO says beside vaelab's numbers.
Data: scikit-learn's 8x8 digits in [0, 1] (nothing downloaded).

    .venv/bin/python bench/keras_adopt.py [--keras-python .venv-keras/bin/python] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LATENT = 4
EPOCHS = 30


def export(folder: Path) -> None:
    """(Keras venv) Train a small Keras VAE on the digits, export its halves to ONNX with tf2onnx."""
    import numpy as np
    import tensorflow as tf
    import tf2onnx
    from sklearn.datasets import load_digits

    tf.keras.utils.set_random_seed(0)
    X = (load_digits().data / 16.0).astype(np.float32)
    np.save(folder / "x.npy", X)
    keras = tf.keras
    x_in = keras.Input((64,), name="x")
    h = keras.layers.Dense(64, activation="tanh")(x_in)
    encoder = keras.Model(x_in, [keras.layers.Dense(LATENT)(h), keras.layers.Dense(LATENT)(h)], name="encoder")
    z_in = keras.Input((LATENT,), name="z")
    decoder = keras.Model(z_in, keras.layers.Dense(64)(keras.layers.Dense(64, activation="tanh")(z_in)), name="decoder")
    opt = keras.optimizers.Adam(3e-3)
    data = tf.data.Dataset.from_tensor_slices(X).shuffle(2000, seed=0).batch(64)
    elbo = 0.0
    for _ in range(EPOCHS):
        total = 0.0
        for xb in data:
            with tf.GradientTape() as tape:
                mu, logvar = encoder(xb)
                z = mu + tf.random.normal(tf.shape(mu)) * tf.exp(0.5 * logvar)
                rec = -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=xb, logits=decoder(z)), 1)
                kl = 0.5 * tf.reduce_sum(mu**2 + tf.exp(logvar) - 1 - logvar, 1)
                loss = tf.reduce_mean(kl - rec)
            weights = encoder.trainable_weights + decoder.trainable_weights
            opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
            total += float(loss) * int(xb.shape[0])
        elbo = -total / len(X)
    for model, name, dim in ((encoder, "encoder", 64), (decoder, "decoder", LATENT)):
        spec = (tf.TensorSpec((None, dim), tf.float32, name="x" if name == "encoder" else "z"),)
        tf2onnx.convert.from_keras(model, input_signature=spec, output_path=str(folder / f"{name}.onnx"))
    (folder / "keras.json").write_text(json.dumps({"train_elbo": elbo, "epochs": EPOCHS, "tensorflow": tf.__version__,
                                                   "tf2onnx": tf2onnx.__version__}))  # fmt: skip


def vaelab(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "vaelab", *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"vaelab {args[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def check_report(report: Path) -> str:
    """The report in headless Chromium: every image decodes, every section is there."""
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if browser is None:
        return "headless Chromium not installed: report not checked in a browser"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))
    from test_browser import PROBE  # the probe the report's browser test uses

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 f"--user-data-dir={tmp}/profile", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()]  # fmt: skip
        dom = subprocess.run([browser, *flags], capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="vaelab-probe">(.*?)</pre>', dom, re.S)
    if not found:
        return "Chromium rendered no probe: the report did not load"
    info = json.loads(found.group(1).replace("&quot;", '"'))
    status = {s[0]: s[1] for s in info["sections"]}
    return (f"Chromium: {info['decoded']} of {info['images']} images decoded (broken: {info['broken'] or 'none'}); "
            f"{len(status)} sections: " + ", ".join(f"{k}={v}" for k, v in status.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", metavar="DIR", help=argparse.SUPPRESS)  # the Keras side, run by the other venv
    parser.add_argument("--keras-python", default=".venv-keras/bin/python", help="the Keras venv's Python")
    parser.add_argument("--out", help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()
    if args.export:
        export(Path(args.export))
        return
    folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="vaelab-keras-"))
    folder.mkdir(parents=True, exist_ok=True)
    if not Path(args.keras_python).exists():
        raise SystemExit(f"{args.keras_python} not found: make keras-install (tensorflow-cpu and tf2onnx in .venv-keras).")
    started = time.perf_counter()
    subprocess.run([args.keras_python, __file__, "--export", str(folder)], check=True)
    keras = json.loads((folder / "keras.json").read_text())
    print(f"Keras (TensorFlow {keras['tensorflow']}, tf2onnx {keras['tf2onnx']}): trained {keras['epochs']} epochs, "
          f"last-epoch training ELBO {keras['train_elbo']:.2f} nats; exported in {time.perf_counter() - started:.0f} s")
    run = folder / "run"
    shutil.rmtree(run, ignore_errors=True)
    vaelab("adopt", "--encoder", folder / "encoder.onnx", "--decoder", folder / "decoder.onnx", "--likelihood",
           "bernoulli", "--data", folder / "x.npy", "--out", run)  # fmt: skip
    score = vaelab("score", run, "--n-samples", "1000", "--quiet")
    print("vaelab score:", " ".join(line.strip() for line in score.splitlines()[1:3]))
    inspect = vaelab("inspect", run)
    print("vaelab inspect:", inspect.splitlines()[0], "|", inspect.splitlines()[1].strip())
    samplers = vaelab("compare-samplers", run)
    print("vaelab compare-samplers:", next(x for x in samplers.splitlines() if x.startswith("For this model")))
    vaelab("explore", run, "traverse")
    vaelab("report", run)
    print(check_report(run / "report.html"))
    print(f"files in {folder}")


if __name__ == "__main__":
    main()
