// A real OpenID Connect provider (panva's certified oidc-provider) for the tests.
// usage: node provider.mjs PORT REDIRECT_URI CLIENT_SECRET CODE_TTL_SECONDS [REDIRECT_DELAY_MS]
// People come from the OIDC_PEOPLE environment variable: {"login": {claims}, ...};
// the development sign-in page accepts any password for a known login.
import Provider from 'oidc-provider';

const [port, redirectUri, secret, codeTtl, redirectDelay] = process.argv.slice(2);
const people = JSON.parse(process.env.OIDC_PEOPLE || '{}');

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'darkroom',
    client_secret: secret,
    redirect_uris: [redirectUri],
    application_type: 'native', // http on loopback is allowed for native clients only
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: {
    openid: ['sub', 'amr', 'acr'], // amr/acr: a person's entry may say the provider did MFA
    email: ['email', 'email_verified'],
    profile: ['name', 'groups'],
  },
  async findAccount(ctx, id) {
    if (!people[id]) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...people[id] }) };
  },
  ttl: { AuthorizationCode: Number(codeTtl || 60) },
  cookies: { keys: ['darkroom-test-only'] },
  features: { devInteractions: { enabled: true } },
});
// A slow way back: hold the redirect that carries a fresh code (to let the code expire).
provider.use(async (ctx, next) => {
  await next();
  const location = ctx.response.get('location') || '';
  if (Number(redirectDelay) > 0 && location.startsWith(redirectUri)) {
    await new Promise((resolve) => setTimeout(resolve, Number(redirectDelay)));
  }
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(Number(port), '127.0.0.1', () => console.log(`listening on ${port}`));
