// The part of a Flex plugin that asks loopguard before every transfer. Add it to
// the `init(flex, manager)` of a plugin made with `twilio flex:plugins:create`, and
// set LOOPGUARD_FUNCTION_URL to the deployed loopguard-check Function.
//
// On `block` the transfer is cancelled and the agent sees the reason and where the
// call should go instead; on `warn` the transfer goes ahead with the warning shown.
const LOOPGUARD_FUNCTION_URL = 'https://your-service-1234.twil.io/loopguard-check';

export function addLoopguard(flex, manager) {
  flex.Notifications.registerNotification({
    id: 'loopguardBlocked',
    type: flex.NotificationType.error,
    content: 'Transfer stopped by loopguard: {{reason}} {{suggestion}}',
  });
  flex.Notifications.registerNotification({
    id: 'loopguardWarned',
    type: flex.NotificationType.warning,
    content: 'loopguard: {{reason}}',
  });

  flex.Actions.addListener('beforeTransferTask', async (payload, abortFunction) => {
    const task = payload.task;
    const attributes = task.attributes || {};
    const body = new URLSearchParams({
      Token: manager.store.getState().flex.session.ssoTokenPayload.token,
      task_sid: task.taskSid,
      reservation_sid: task.sid,
      from: task.queueSid,
      to: payload.targetSid,
      mode: (payload.options && payload.options.mode) || 'COLD',
      conversation_id: (attributes.conversations && attributes.conversations.conversation_id) || '',
      worker_sid: manager.workerClient.sid,
      intent: attributes.intent || '',
      callback_number: attributes.from && attributes.from.startsWith('+') ? attributes.from : '',
    });
    const answer = await fetch(LOOPGUARD_FUNCTION_URL, { method: 'POST', body }).then((r) => r.json());
    const suggestion = answer.suggested_department
      ? `Send the call to ${answer.suggested_department} instead.`
      : '';
    if (answer.cancel) {
      flex.Notifications.showNotification('loopguardBlocked', { reason: answer.reason, suggestion });
      abortFunction();
    } else if (answer.verdict === 'warn') {
      flex.Notifications.showNotification('loopguardWarned', { reason: answer.reason });
    }
  });
}
