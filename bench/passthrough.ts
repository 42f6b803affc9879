/**
 * A bare HTTP relay for the latency benchmark's calibration: it forwards each request to the
 * target over a keep-alive agent and sends the answer back, doing nothing else. What the
 * proxy router adds beyond this relay is its own work (auth, reservation, receipt check,
 * fsync'ed accounting); the relay's own figure is the cost of one more Node.js HTTP hop on the
 * machine that runs the bench.
 *
 *   ts-node bench/passthrough.ts <target url>   → prints {"port": N}
 */
import * as http from 'node:http';
import { AddressInfo } from 'node:net';

const target = new URL(process.argv[2] ?? '');
const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
        const body = Buffer.concat(chunks);
        const up = http.request(
            { hostname: target.hostname, port: target.port, path: req.url, method: req.method, agent, headers: { 'content-type': req.headers['content-type'] ?? 'application/json', 'content-length': String(body.length) } },
            (ur) => {
                const parts: Buffer[] = [];
                ur.on('data', (c: Buffer) => parts.push(c));
                ur.on('end', () => {
                    const answer = Buffer.concat(parts);
                    res.writeHead(ur.statusCode ?? 502, { 'content-type': ur.headers['content-type'] ?? 'application/json', 'content-length': String(answer.length) });
                    res.end(answer);
                });
            },
        );
        up.on('error', (e) => {
            res.writeHead(502, { 'content-type': 'text/plain' });
            res.end(e.message);
        });
        up.end(body);
    });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
