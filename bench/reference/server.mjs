// The reference for `make bench`: node-oidc-provider (certified) issuing RS256 JWT access tokens by
// client credentials, in N processes (node:cluster), the way the issue measured it.
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const workers = Number(process.env.WORKERS || 2);
const issuer = `http://127.0.0.1:${port}`;

if (cluster.isPrimary) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  process.env.REF_JWK = JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'ref', alg: 'RS256', use: 'sig' });
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const resource = 'https://api.example';
  const provider = new Provider(issuer, {
    clients: [{
      client_id: process.env.CLIENT_ID, client_secret: process.env.CLIENT_SECRET,
      grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'read',
    }],
    jwks: { keys: [JSON.parse(process.env.REF_JWK)] },
    scopes: ['read'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'read', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
      },
    },
  });
  provider.listen(port, '127.0.0.1');
}
