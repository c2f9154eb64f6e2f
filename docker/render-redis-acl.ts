// Prints docker/redis-users.acl.in: the Redis users of packages/events/src/redis-acl.ts with a
// placeholder for each password hash, which docker/generate-env.sh fills in. The file has no
// comment line because Redis refuses any aclfile line that does not start with `user`.
// ops-compose.test.ts fails when the committed file differs from this rendering.
//   node --conditions=pgw-source --import tsx docker/render-redis-acl.ts > docker/redis-users.acl.in
// With --node it prints docker/redis-node-users.acl.in instead: an HA pair node's agent and forwarder
// users (issue 18), which generate-env.sh uses when PGW_NODE_NAME is set.
//   node --conditions=pgw-source --import tsx docker/render-redis-acl.ts --node > docker/redis-node-users.acl.in
import { redisAclTemplate, redisNodeAclTemplate } from '@pgw/events';

process.stdout.write(process.argv.includes('--node') ? redisNodeAclTemplate() : redisAclTemplate());
