# Postgres and Redis from Debian's packages, for a site without a container registry. The Compose
# file uses the public postgres and redis images unless PGW_POSTGRES_IMAGE / PGW_REDIS_IMAGE name
# these (scripts/deploy/build-images.sh builds them on its local bases; with a registry they build on
# debian:bookworm-slim too). Both behave as the public images do where Compose relies on it: user
# uid 999 (the socket volumes' owner), the same data paths, POSTGRES_* from postgres.env at first start.
ARG POSTGRES_BASE=debian:bookworm-slim
ARG REDIS_BASE=debian:bookworm-slim

FROM ${POSTGRES_BASE} AS postgres
COPY docker/apt-install.sh /usr/local/sbin/pgw-apt-install
RUN (id postgres || (groupadd --system --gid 999 postgres && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/sh postgres)) \
 && pgw-apt-install postgresql-15 \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 0755 /var/run/postgresql
COPY docker/postgres-init.sh /usr/local/bin/pgw-postgres-init
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
USER postgres
ENTRYPOINT ["pgw-postgres-init"]
CMD ["postgres"]

FROM ${REDIS_BASE} AS redis
COPY docker/apt-install.sh /usr/local/sbin/pgw-apt-install
RUN (id redis || (groupadd --system --gid 999 redis && useradd --system --uid 999 --gid redis --home-dir /var/lib/redis --shell /usr/sbin/nologin redis)) \
 && pgw-apt-install redis-server \
 && install -d -o redis -g redis -m 0750 /data
WORKDIR /data
USER redis
CMD ["redis-server"]
