'use strict';
// Starts the real crm-server for a test: built by cargo (any CARGO_TARGET_DIR), or the binary
// named by $CRM_SERVER_BIN, on 127.0.0.1:0 with a fresh data directory.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');

function serverBinary() {
  if (process.env.CRM_SERVER_BIN) return process.env.CRM_SERVER_BIN;
  const out = execFileSync('cargo', ['build', '--quiet', '--message-format=json', '-p', 'crm-grpc', '--bin', 'crm-server'],
    { cwd: REPO, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  for (const line of out.split('\n')) {
    if (!line) continue;
    const m = JSON.parse(line);
    if (m.reason === 'compiler-artifact' && m.executable && m.target.name === 'crm-server') return m.executable;
  }
  throw new Error('cargo built no crm-server');
}

async function startServer() {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-node-'));
  const child = spawn(serverBinary(), ['--listen', '127.0.0.1:0', '--data-dir', data], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`crm-server did not start:\n${log}`)), 15000);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const found = /listening on ([0-9.]+:[0-9]+)/.exec(log);
      if (found) { clearTimeout(timer); resolve(found[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`crm-server exited ${code}:\n${log}`)); });
  });
  child.removeAllListeners('exit');
  return {
    addr,
    async stop() {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      const code = await exited;
      fs.rmSync(data, { recursive: true, force: true });
      return code;
    },
  };
}

module.exports = { startServer, serverBinary };
