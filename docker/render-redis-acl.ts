// Prints docker/redis-users.acl.in: the Redis users of packages/events/src/redis-acl.ts with a
// placeholder for each password hash, which docker/generate-env.sh fills in. The file has no
// comment line because Redis refuses any aclfile line that does not start with `user`.
// ops-compose.test.ts fails when the committed file differs from this rendering.
//   node --conditions=pgw-source --import tsx docker/render-redis-acl.ts > docker/redis-users.acl.in
import { redisAclTemplate } from '@pgw/events';

process.stdout.write(redisAclTemplate());
