// Twilio Function (Node 18+ runtime) between the Flex plugin and loopguard.
//
// The plugin runs in the agent's browser and cannot hold a secret, so it calls this
// Function with the agent's Flex token; the Function checks that token
// (twilio-flex-token-validator) and asks loopguard, signing the request the way
// Twilio signs its own webhooks: the URL carries bodySHA256 (the SHA-256 of the JSON
// body) and X-Twilio-Signature is the HMAC-SHA1 of that URL with the account's auth
// token. loopguard checks it with --twilio-auth-token.
//
// Environment of the Function (Functions and Assets > Environment Variables):
//   LOOPGUARD_URL        https://cc.example.com/v1/integrations/twilio/flex/transfer
//   LOOPGUARD_FAIL_OPEN  "true": let the transfer through when loopguard does not
//                        answer in time (default: cancel it and say why)
// and "Add my Twilio Credentials (ACCOUNT_SID) and (AUTH_TOKEN) to ENV" enabled.
// Dependencies: twilio-flex-token-validator.
const crypto = require('crypto');
const TokenValidator = require('twilio-flex-token-validator').functionValidator;

const TIMEOUT_MS = 3000;

exports.handler = TokenValidator(async (context, event, callback) => {
  const response = new Twilio.Response();
  response.appendHeader('Access-Control-Allow-Origin', '*');
  response.appendHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
  response.appendHeader('Access-Control-Allow-Headers', 'Content-Type');
  response.appendHeader('Content-Type', 'application/json');

  const body = JSON.stringify({
    task_sid: event.task_sid,
    reservation_sid: event.reservation_sid,
    from: event.from,
    to: event.to,
    mode: event.mode,
    conversation_id: event.conversation_id || undefined,
    worker_sid: event.worker_sid,
    intent: event.intent || undefined,
    callback_number: event.callback_number || undefined,
  });
  const hash = crypto.createHash('sha256').update(body).digest('hex');
  const url = `${context.LOOPGUARD_URL}?bodySHA256=${hash}`;
  const signature = require('twilio').getExpectedTwilioSignature(context.AUTH_TOKEN, url, {});

  try {
    const answer = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Twilio-Signature': signature },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const json = await answer.json();
    if (!answer.ok) throw new Error(json.error ? json.error.message : `HTTP ${answer.status}`);
    response.setBody(json);
  } catch (error) {
    const open = context.LOOPGUARD_FAIL_OPEN === 'true';
    response.setBody({
      verdict: open ? 'allow' : 'block',
      cancel: !open,
      reason: `loopguard did not answer (${error.message})`,
      suggested_department: '',
      suggested_target: '',
    });
  }
  callback(null, response);
});
