# A Debian 12 host for the systemd layout, as a container image for test/deploy/systemd.test.ts: it
# boots systemd as PID 1 (with Debian's postgresql-15 and redis-server units) and carries pgw built at
# /opt/pgw, not yet installed. scripts/deploy/install-systemd.sh, run in the booted machine, then does
# what docs/DEPLOYMENT.md's "systemd" section says (users, env files, stores, units, enable --now).
# Not a product image: an operator installs on a real host; this one only proves the units run.
#   MACHINE_IMAGE  Debian with systemd, postgresql-15, redis-server, nftables, conntrack and Node 20 at
#                  /usr/bin/node (scripts/deploy/base-images.sh local/pgw-systemd:bookworm)
#   RUNTIME_IMAGE  the pgw runtime image (docker/Dockerfile, target runtime): its /opt/pgw is the built
#                  repository with production dependencies, the same files the Compose stack runs
ARG MACHINE_IMAGE=local/pgw-systemd:bookworm
ARG RUNTIME_IMAGE=pgw:1.1.0-dev

FROM ${RUNTIME_IMAGE} AS app

FROM ${MACHINE_IMAGE} AS machine
COPY --from=app /opt/pgw /opt/pgw
# What the runtime image leaves out and the systemd layout reads from /opt/pgw: the guard (loaded by
# pgw-guard.service), the units, the env file generator and the installer.
COPY guard /opt/pgw/guard
COPY systemd /opt/pgw/systemd
COPY docker/generate-env.sh docker/secret-public-key.sh docker/redis-users.acl.in /opt/pgw/docker/
COPY scripts/deploy/install-systemd.sh scripts/deploy/check-root-tree.sh /opt/pgw/scripts/deploy/
# A container has no getty to start and no udev to settle; the kernel variables are the real host's
# (Docker keeps /proc/sys read-only, so systemd-sysctl would skip them anyway: masked so that no
# other way of running this image writes the machine's global sysctls); no apt or fsck timers.
# The machine id is made at boot, one per container.
RUN systemctl mask getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service \
      systemd-sysctl.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer dpkg-db-backup.timer \
 && systemctl set-default multi-user.target \
 && : > /etc/machine-id
# The cluster Debian's postgresql package creates when it is installed on a host (its maintainer
# script could not in the chroot that built the base).
RUN [ -d /etc/postgresql/15/main ] || pg_createcluster 15 main >/dev/null
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
