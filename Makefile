# famlab — run as root on Debian 12.
#   make test      install what the tests need, then unit + real multi-node integration tests
#   make demo      build a three-node family on this machine, back up every node, clean up
#   make install   install famlab under /opt/famlab (DESTDIR=/tmp/x stages files only)
#   make install-samba   (part of install) smb.conf and the Avahi service for this node

PREFIX      ?= /opt/famlab
BINDIR      ?= /usr/local/bin
SYSCONFDIR  ?= /etc/famlab
DESTDIR     ?=
FAMLAB_USER ?= famlab
UNITDIR     ?= /etc/systemd/system
UNITS        = famlab-backup.service famlab-backup.timer famlab-report.service famlab-report.timer famlab-notify@.service \
               famlab-scrub.service famlab-scrub.timer famlab-verify.service famlab-verify.timer
TIMERS       = famlab-backup.timer famlab-report.timer famlab-scrub.timer famlab-verify.timer

# What famlab runs on a box, and what the tests add to drive it for real.
RUNTIME_PACKAGES = rsync openssh-server openssh-client btrfs-progs acl attr procps psmisc util-linux samba samba-vfs-modules samba-common-bin avahi-daemon cryptsetup-bin sudo
TEST_PACKAGES    = iproute2 smbclient libxml2-utils
# Monitoring tests: msmtp as sendmail into an aiosmtpd sink, promtool for the metrics.
TEST_PACKAGES   += msmtp-mta python3-aiosmtpd prometheus

NODE_TEST = node --import tsx --test --test-reporter=spec

.PHONY: deps node-deps check test test-unit test-integration test-modes test-faults bench demo demo-clean install install-samba install-units uninstall

# apt only when something is missing: a fresh machine gets everything, a ready one loses no time.
deps:
	@missing=$$(for p in $(RUNTIME_PACKAGES) $(TEST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	command -v node >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

node-deps: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

check: node-deps
	node_modules/.bin/tsc --noEmit

test-unit: node-deps
	$(NODE_TEST) test/unit/*.test.ts

test-integration: deps node-deps
	$(NODE_TEST) --test-concurrency=1 test/integration/*.test.ts

# The core suite in the transfer modes the integration suite does not use by default.
test-modes: deps node-deps
	FAMLAB_TEST_MODES=link-dest,send $(NODE_TEST) test/integration/core.test.ts

# Fault injection on the real harness; prints a table of fault, runs, survived.
test-faults: deps node-deps
	$(NODE_TEST) test/faults/*.test.ts

# The fault suite runs here too, with 3 random kills instead of test-faults' 10.
test: deps node-deps check test-unit test-integration
	FAMLAB_FAULT_KILLS=3 $(NODE_TEST) test/faults/*.test.ts

# famlab against bare rsync on a real family; BENCH_ARGS='--files 150000' for the reference size.
bench: deps node-deps
	node --import tsx bench/run.ts $(BENCH_ARGS)
	node --import tsx bench/modes.ts $(BENCH_ARGS)

demo: deps node-deps
	node --import tsx test/demo.ts

demo-clean: node-deps
	node --import tsx test/demo.ts --clean

install: node-deps
	@[ -n "$(DESTDIR)" ] || $(MAKE) --no-print-directory deps
	install -d $(DESTDIR)$(PREFIX) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)
	cp -r bin lib scripts etc package.json package-lock.json tsconfig.json $(DESTDIR)$(PREFIX)/
	cd $(DESTDIR)$(PREFIX) && npm ci --omit=dev --no-audit --no-fund --loglevel=error
	$(DESTDIR)$(PREFIX)/bin/bundle $(DESTDIR)$(PREFIX)
	chmod -R a+rX $(DESTDIR)$(PREFIX)
	ln -sf $(PREFIX)/bin/famlab $(DESTDIR)$(BINDIR)/famlab
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/famlab.yaml ]; then \
	  echo "keeping $(DESTDIR)$(SYSCONFDIR)/famlab.yaml"; \
	else \
	  install -m 0644 etc/famlab.yaml.example $(DESTDIR)$(SYSCONFDIR)/famlab.yaml; \
	  echo "wrote $(DESTDIR)$(SYSCONFDIR)/famlab.yaml: set node, root and listen, then run famlab init"; \
	fi
	@if [ -z "$(DESTDIR)" ] && ! getent passwd $(FAMLAB_USER) >/dev/null; then \
	  useradd --system --shell /bin/sh --home-dir /var/lib/famlab --no-create-home $(FAMLAB_USER); \
	  usermod -p '*' $(FAMLAB_USER); \
	fi
	@# Debian security updates, unattended (Debian's default origins: the security archive only).
	@if [ "$(UNATTENDED_UPGRADES)" != no ]; then \
	  [ -n "$(DESTDIR)" ] || dpkg-query -W -f='$${Status}\n' unattended-upgrades 2>/dev/null | grep -q '^install ok installed' || \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends unattended-upgrades || exit 1; \
	  install -d $(DESTDIR)/etc/apt/apt.conf.d; \
	  printf 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n' > $(DESTDIR)/etc/apt/apt.conf.d/20auto-upgrades; \
	  if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl enable --now apt-daily.timer apt-daily-upgrade.timer; fi; \
	  echo "unattended-upgrades: Debian security updates on (opt out: make install UNATTENDED_UPGRADES=no)"; \
	fi
	@$(MAKE) --no-print-directory install-samba
	@$(MAKE) --no-print-directory install-units

# smb.conf and the Avahi service from this node's famlab.yaml. An admin's own smb.conf is kept
# aside (smb.conf.before-famlab); famlab's own is simply regenerated. Daemons reload where they run.
SMB_CONF      = $(DESTDIR)/etc/samba/smb.conf
AVAHI_SERVICE = $(DESTDIR)/etc/avahi/services/famlab.service
install-samba: node-deps
	install -d $(dir $(SMB_CONF)) $(dir $(AVAHI_SERVICE))
	@if [ -e $(SMB_CONF) ] && ! head -1 $(SMB_CONF) | grep -q '^# Samba for famlab node'; then \
	  if [ -e $(SMB_CONF).before-famlab ]; then echo "$(SMB_CONF).before-famlab exists already: not replacing it"; exit 1; fi; \
	  mv $(SMB_CONF) $(SMB_CONF).before-famlab; \
	  echo "NOTE: your own $(SMB_CONF) is kept as $(SMB_CONF).before-famlab; merge what you need into famlab's"; \
	fi
	bin/famlab smb-conf --config $(DESTDIR)$(SYSCONFDIR)/famlab.yaml > $(SMB_CONF).new && mv $(SMB_CONF).new $(SMB_CONF)
	bin/famlab avahi-service --config $(DESTDIR)$(SYSCONFDIR)/famlab.yaml > $(AVAHI_SERVICE).new && mv $(AVAHI_SERVICE).new $(AVAHI_SERVICE)
	@! testparm -s $(SMB_CONF) 2>&1 >/dev/null | grep -iE 'unknown|ignoring|found in service section'
	@echo "wrote $(SMB_CONF) and $(AVAHI_SERVICE); after editing famlab.yaml run make install-samba again"
	@if [ -z "$(DESTDIR)" ]; then \
	  if pidof smbd >/dev/null; then smbcontrol smbd reload-config && echo "smbd reloaded"; fi; \
	  if pidof avahi-daemon >/dev/null; then avahi-daemon --reload && echo "avahi-daemon reloaded"; fi; \
	fi

# famlab's units and timers; enabled (started at the next boot) where systemd runs.
install-units:
	install -d $(DESTDIR)$(UNITDIR)
	cd systemd && install -m 0644 $(UNITS) $(DESTDIR)$(UNITDIR)/
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  systemctl daemon-reload && systemctl enable $(TIMERS) && \
	  echo "timers enabled; start them once famlab init has run: systemctl start $(TIMERS)"; \
	else \
	  echo "no running systemd: see $(PREFIX)/etc/cron.d/famlab for cron"; \
	fi
	@[ -n "$(DESTDIR)" ] || [ -x /usr/sbin/sendmail ] || \
	  echo "no /usr/sbin/sendmail: install an MTA (apt install msmtp-mta, see $(PREFIX)/etc/msmtprc.example) for alert mail"

uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl disable --now $(TIMERS) || true; fi
	cd $(DESTDIR)$(UNITDIR) 2>/dev/null && rm -f $(UNITS) || true
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	rm -rf $(DESTDIR)$(PREFIX) $(DESTDIR)$(BINDIR)/famlab
	@echo "kept $(SYSCONFDIR) and the data under root and /var/lib/famlab"
