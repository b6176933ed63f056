// Runs s3rver's own command line as PID 1 of the container. A process that is
// PID 1 gets no default action for SIGTERM, so stopping the container would
// wait for SIGKILL: exit at once instead (s3rver keeps nothing in memory).
'use strict';
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
require('/opt/s3rver/node_modules/s3rver/bin/s3rver.js');
