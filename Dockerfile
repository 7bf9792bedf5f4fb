# An image for Zero-to-JupyterHub (`singleuser.image`) holding the same set-up as
# ./kernel-setup.sh: the lesson's notebooks, the "Rust (lossviz)" kernel pre-built, and
# jupyterhub-singleuser. NOT BUILT OR TRIED: no container base image is reachable from the
# machine this project is developed on, so treat it as a starting point.
#
#   docker build -t lossviz-singleuser .
#
# Zero-to-JupyterHub runs it as user 1000 with the home on a persistent volume; the set-up
# lives outside the home (LOSSVIZ_CACHE=/opt/lossviz/cache) so a volume does not hide it.
FROM debian:bookworm

RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates curl git build-essential pkg-config python3 python3-venv patchelf mold \
      dataset-fashion-mnist fonts-ipaexfont-gothic util-linux \
    && rm -rf /var/lib/apt/lists/*
RUN useradd -m -u 1000 -s /bin/bash jovyan && mkdir -p /opt/lossviz && chown jovyan /opt/lossviz

USER jovyan
ENV CARGO_HOME=/opt/lossviz/cargo RUSTUP_HOME=/opt/lossviz/rustup \
    PATH=/opt/lossviz/cargo/bin:/opt/lossviz/cache/venv/bin:$PATH \
    LOSSVIZ_CACHE=/opt/lossviz/cache LOSSVIZ_PYTHON=/usr/bin/python3
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rust-src --no-modify-path
COPY --chown=jovyan . /opt/lossviz/src
WORKDIR /opt/lossviz/src
RUN ./kernel-setup.sh install \
    && /opt/lossviz/cache/venv/bin/pip install --no-cache-dir -r hub/requirements-hub.txt \
    && /opt/lossviz/cache/venv/bin/jupyter kernelspec install --sys-prefix --name lossviz-rust /opt/lossviz/cache/kernel/spec

# The kernel spec's LOSSVIZ_SHARED_BUILDS is not set here: in a container of one student the
# pre-built build folder under /opt/lossviz/cache is theirs to use directly.
WORKDIR /home/jovyan
CMD ["jupyterhub-singleuser"]
