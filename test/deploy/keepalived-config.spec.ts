import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type KeepalivedSettings, renderKeepalivedConf } from '../../deploy/keepalived/keepalived-config.js';

const settings: KeepalivedSettings = {
  node: { routerId: 'pgw-a', priority: 150, vrrpSourceIp: '198.51.100.1', peerIp: '198.51.100.2' },
  virtualIp: '192.168.2.1',
  virtualPrefix: 24,
  lanInterface: 'ens19',
  wanInterface: 'eth0',
  vrrpInterface: 'eth0',
  virtualRouterId: 18,
  advertIntervalS: 0.5,
  preemptDelayS: 4,
  healthPorts: { agent: 9101, forwarder: 9102 },
  checkScript: '/usr/local/lib/pgw/pgw-ha-check.sh',
  notifyScript: '/usr/local/lib/pgw/pgw-ha-notify.sh',
  stateFile: '/var/lib/pgw/ha-state',
  eventsFile: '/var/lib/pgw/ha-events.log',
  notifyFifo: '/run/pgw-ha-notify.fifo',
  checkUser: 'keepalived_script',
};

describe('keepalived.conf of an HA node', () => {
  it('puts the virtual IP on the LAN, the unicast adverts (from the peer only) on the other link, and tracks the LAN link, agent and forwarder (keepalived tracks its own VRRP interface)', () => {
    const conf = renderKeepalivedConf(settings);
    assert.match(conf, /^\s+192\.168\.2\.1\/24 dev ens19$/m);
    assert.match(conf, /^\s+interface eth0$/m);
    // Adverts only from the peer, and only from the link itself (TTL 255: not routed here from elsewhere on the WAN).
    assert.match(conf, /unicast_src_ip 198\.51\.100\.1\n\s+unicast_peer \{\n\s+198\.51\.100\.2 min_ttl 255\n/);
    assert.match(conf, /track_interface \{\n\s+ens19\n\s+\}/);
    // Each port with the user that must hold it (a local user may bind it while the service restarts).
    assert.match(conf, /script "\/usr\/local\/lib\/pgw\/pgw-ha-check\.sh 9101 root"/);
    assert.match(conf, /script "\/usr\/local\/lib\/pgw\/pgw-ha-check\.sh 9102 pgw"/);
    assert.match(conf, /track_script \{\n\s+pgw_agent\n\s+pgw_forwarder\n/);
    // The checks need nothing of root's (ss and curl): each runs as the unprivileged check user.
    assert.equal(conf.match(/^\s+user keepalived_script$/gm)?.length, 2);
    assert.match(conf, /vrrp_script pgw_agent \{\n\s+script "[^"]+"\n\s+user keepalived_script\n/);
    assert.match(conf, /state BACKUP\n/);
    assert.match(conf, /preempt_delay 4\n/);
    // The master's advert timer is not restarted by packets it reads: a VRRP flood from the link cannot silence it.
    assert.match(conf, /^\s+lower_prio_no_advert$/m);
    assert.match(conf, /vrrp_version 3\n/);
    // Transitions in order through a FIFO to one long-running hook, not a hook forked per transition.
    assert.match(conf, /^\s+vrrp_notify_fifo \/run\/pgw-ha-notify\.fifo$/m);
    assert.match(conf, /^\s+vrrp_notify_fifo_script "\/usr\/local\/lib\/pgw\/pgw-ha-notify\.sh \/var\/lib\/pgw\/ha-state \/var\/lib\/pgw\/ha-events\.log"$/m);
    assert.doesNotMatch(conf, /^\s+notify /m);
    // VRRP on the WAN: that link's state is the node's own (a node whose uplink is down gives the address up).
    assert.doesNotMatch(conf, /dont_track_primary/);
  });

  it('on a dedicated VRRP link, a link down puts neither node in FAULT: the link is not tracked, the WAN is', () => {
    // One cable between the nodes: its loss takes the carrier from both ends. Tracked, both nodes
    // went FAULT and no node held the gateway address; untracked, each claims it (the same policy
    // on both) until the link is back, and the WAN and LAN links still decide each node's own fate.
    const conf = renderKeepalivedConf({ ...settings, vrrpInterface: 'sync0', node: { ...settings.node, vrrpSourceIp: '10.99.0.1', peerIp: '10.99.0.2' } });
    assert.match(conf, /^\s+interface sync0$/m);
    assert.match(conf, /^\s+dont_track_primary$/m);
    assert.match(conf, /track_interface \{\n\s+ens19\n\s+eth0\n\s+\}/);
  });

  it('refuses bad settings with a message naming the field', () => {
    const bad: [string, Partial<KeepalivedSettings>, RegExp][] = [
      ['VRRP on the LAN', { vrrpInterface: 'ens19' }, /vrrpInterface must not be the LAN interface/],
      ['the WAN on the LAN', { wanInterface: 'ens19' }, /wanInterface must not be the LAN interface/],
      ['a newline in the WAN interface', { wanInterface: 'eth0\n}' }, /wanInterface must be an interface name/],
      ['a hostname for the VIP', { virtualIp: 'gw.lan' }, /virtualIp must be an IPv4 address/],
      ['priority 255 (owner)', { node: { ...settings.node, priority: 255 } }, /node\.priority/],
      ['peer = self', { node: { ...settings.node, peerIp: '198.51.100.1' } }, /node\.peerIp must differ/],
      ['a quote in a path', { checkScript: '/x" ; rm -rf /' }, /checkScript must be an absolute path/],
      ['a newline in the interface', { lanInterface: 'ens19\n}' }, /lanInterface must be an interface name/],
      ['sub-centisecond advert', { advertIntervalS: 0.001 }, /advertIntervalS/],
      ['root for the checks', { checkUser: 'root' }, /checkUser must not be root/],
      ['a space in the check user', { checkUser: 'nobody nogroup' }, /checkUser must be a user name/],
    ];
    for (const [what, patch, message] of bad) assert.throws(() => renderKeepalivedConf({ ...settings, ...patch }), message, what);
  });
});
