// Exit 0 when s3rver answers HTTP on port 9000 (any status below 500).
'use strict';
const req = require('http').get({ host: '127.0.0.1', port: 9000, path: '/', timeout: 4000 }, (res) => {
  res.resume();
  process.exit(res.statusCode < 500 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
