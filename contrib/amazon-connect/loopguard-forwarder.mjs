// AWS Lambda (Node.js 20+) that forwards Amazon Connect to loopguard, signed with
// Standard Webhooks (the same secret as LOOPGUARD_WEBHOOK_SECRET).
//
// Two triggers, one function:
// - a contact flow's "Invoke AWS Lambda function" block: the event is posted as is
//   to /v1/integrations/amazon-connect/flow and loopguard's flat answer is returned,
//   so the flow can branch on $.External.verdict (allow / warn / block) and read
//   $.External.reason, $.External.suggested_department, $.External.suggested_queue;
// - an EventBridge rule on "Amazon Connect Contact Event": the event is posted as is
//   to /v1/integrations/amazon-connect/events (a failure throws, so Lambda's
//   asynchronous retries deliver it again; loopguard recognises the redelivery).
//
// Environment:
//   LOOPGUARD_URL      https://cc.example.com (no trailing slash)
//   LOOPGUARD_SECRET   whsec_... (store it encrypted; it signs every request)
//   LOOPGUARD_FAIL_OPEN  "true": when loopguard does not answer in time, a flow gets
//                      verdict "allow" (default "block": stop the transfer, say why)
import { createHmac, randomUUID } from 'node:crypto';

const TIMEOUT_MS = 2500; // a flow waits at most 8 s for its Lambda

function sign(body) {
  const id = `msg_${randomUUID()}`;
  const timestamp = Math.floor(Date.now() / 1000).toString();
  const key = Buffer.from(process.env.LOOPGUARD_SECRET.replace(/^whsec_/, ''), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': `v1,${signature}`,
  };
}

async function post(path, event) {
  const body = JSON.stringify(event);
  const response = await fetch(`${process.env.LOOPGUARD_URL}${path}`, {
    method: 'POST',
    headers: sign(body),
    body,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const answer = await response.json();
  if (!response.ok) {
    throw new Error(`loopguard answered ${response.status}: ${JSON.stringify(answer)}`);
  }
  return answer;
}

export const handler = async (event) => {
  if (event['detail-type']) {
    return post('/v1/integrations/amazon-connect/events', event);
  }
  try {
    return await post('/v1/integrations/amazon-connect/flow', event);
  } catch (error) {
    const open = process.env.LOOPGUARD_FAIL_OPEN === 'true';
    console.error('loopguard did not answer', error);
    return {
      verdict: open ? 'allow' : 'block',
      reason: `loopguard did not answer: ${error.message}`,
      suggested_department: '',
      suggested_queue: '',
    };
  }
};
