// Polls and edits between stock Baileys and OUR account on the LID-first
// server (issue 14):
//  1. Baileys creates a poll, we vote; Node opens our vote with Baileys'
//     exported decryptPollVote and the poll's messageSecret.
//  2. We create a poll; Node seals a vote itself (node:crypto: HKDF-SHA256,
//     AES-256-GCM, AAD = pollId NUL voter) and relays it through Baileys'
//     relayMessage; we report the option it chose.
//  3. Baileys edits its message (sendMessage {edit}); we get `edited`.
//  4. We edit ours; Baileys receives the MESSAGE_EDIT protocolMessage.
//  5. Node builds the newer secretEncryptedMessage edit from the original's
//     messageSecret and relays it; we get `edited` with `encrypted: true`.
// usage: node polls_edits_with_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import crypto from 'node:crypto';
import { runScenario, fail } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: polls_edits_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>');
const userOf = (jid) => (jid || '').replace(/:\d+@/, '@');
const addonKey = (secret, info) => Buffer.from(crypto.hkdfSync('sha256', secret, Buffer.alloc(0), Buffer.from(info), 32));
const seal = (key, plain, aad) => {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  if (aad) c.setAAD(aad);
  return { encPayload: Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]), encIv: iv };
};
const sha256 = (s) => crypto.createHash('sha256').update(s).digest();

await runScenario(['alice'], async ({ server, clients }) => {
  const [alice] = clients;
  const { baileys, proto } = alice.B;
  const ours = await startOurs(server, 'ours', binDir);
  const call = async (req) => {
    const r = await ours.call(req);
    if (!r.ok) throw new Error(req.cmd + ': ' + JSON.stringify(r));
    return r.result;
  };
  try {
    await ours.pair('155611');
    const open = ours.events.find((e) => e.type === 'connection' && e.state === 'open');
    const ourLid = userOf(open.lid), ourPn = userOf(open.jid);
    await alice.pair('155612');
    const aliceLid = userOf(alice.state.creds.me.lid), alicePn = alice.user;

    // 1. Baileys' poll, our vote, opened by Baileys' decryptPollVote.
    const pollMsg = await alice.sock.sendMessage(ourLid, { poll: { name: 'Colour?', values: ['Red', 'Green', 'Blue'], selectableCount: 1 } });
    alice.sent.set(pollMsg.key.id, pollMsg.message);
    const pollEv = await ours.wait((all) => all.find((e) => e.type === 'poll' && e.id === pollMsg.key.id), 20000, 'poll event');
    if (JSON.stringify(pollEv.options) !== '["Red","Green","Blue"]' || pollEv.name !== 'Colour?')
      throw new Error('poll event wrong: ' + JSON.stringify(pollEv));
    await call({ cmd: 'vote', profile: 'ours', chat: pollEv.chat, id: pollEv.id, options: ['Green'], client_id: 'v1' });
    const voteUp = await alice.wait(() => alice.received.find((m) => m.raw?.message?.pollUpdateMessage), 20000, 'our vote');
    const upd = voteUp.raw.message.pollUpdateMessage;
    if (upd.pollCreationMessageKey.id !== pollMsg.key.id) throw new Error('our vote names another poll');
    const secret = pollMsg.message.messageContextInfo.messageSecret;
    let opened = null;
    for (const creator of [aliceLid, alicePn]) for (const voter of [ourLid, ourPn]) {
      if (opened) break;
      try {
        const v = baileys.decryptPollVote(upd.vote, { pollCreatorJid: creator, pollMsgId: pollMsg.key.id, pollEncKey: secret, voterJid: voter });
        opened = { v, creator, voter };
      } catch {}
    }
    if (!opened) throw new Error('decryptPollVote opens our vote under no spelling of creator and voter');
    const chosen = opened.v.selectedOptions.map((h) => Buffer.from(h));
    if (chosen.length !== 1 || !chosen[0].equals(sha256('Green'))) throw new Error('our vote does not select Green');
    console.log(`our vote opened by decryptPollVote (creator ${opened.creator}, voter ${opened.voter})`);

    // 2. Our poll, a vote sealed by Node and relayed by Baileys.
    const ourPoll = await call({ cmd: 'poll', profile: 'ours', to: alicePn, name: 'Day?', options: ['Mon', 'Tue'], client_id: 'p1' });
    const gotPoll = await alice.wait(() => alice.received.find((m) => m.id === ourPoll.id), 20000, 'our poll');
    const pc = gotPoll.raw.message.pollCreationMessageV3 || gotPoll.raw.message.pollCreationMessage;
    if (!pc || pc.options.map((o) => o.optionName).join() !== 'Mon,Tue') throw new Error('our poll as Baileys read it: ' + JSON.stringify(gotPoll.raw.message));
    if (!gotPoll.raw.message.pollCreationMessageV3) throw new Error('a single-choice poll should be V3');
    const ourSecret = gotPoll.raw.message.messageContextInfo?.messageSecret;
    if (!ourSecret || ourSecret.length !== 32) throw new Error('our poll carries no messageSecret');
    const creator = userOf(gotPoll.from);
    const plain = proto.Message.PollVoteMessage.encode({ selectedOptions: [sha256('Tue')] }).finish();
    const vote = seal(addonKey(ourSecret, ourPoll.id + creator + aliceLid + 'Poll Vote'), plain,
      Buffer.from(ourPoll.id + '\0' + aliceLid));
    await alice.sock.relayMessage(gotPoll.from, {
      pollUpdateMessage: { pollCreationMessageKey: { remoteJid: gotPoll.from, fromMe: false, id: ourPoll.id }, vote,
        senderTimestampMs: Date.now() } }, { messageId: baileys.generateMessageID() });
    const pv = await ours.wait((all) => all.find((e) => e.type === 'poll_vote' && e.poll_id === ourPoll.id), 20000, 'poll_vote');
    if (JSON.stringify(pv.options) !== '["Tue"]') throw new Error('poll_vote: ' + JSON.stringify(pv));
    const results = await call({ cmd: 'poll_results', profile: 'ours', chat: alicePn, id: ourPoll.id });
    if (results.options.find((o) => o.name === 'Tue').count !== 1) throw new Error('poll_results: ' + JSON.stringify(results));

    // 3. Baileys edits its message.
    const orig = await alice.send(ourLid, 'typo heer');
    await ours.wait((all) => all.find((e) => e.type === 'message' && e.id === orig.key.id), 20000, 'alice message');
    await alice.sock.sendMessage(ourLid, { text: 'typo here', edit: orig.key });
    const ed = await ours.wait((all) => all.find((e) => e.type === 'edited' && e.target_id === orig.key.id), 20000, 'edited');
    if (ed.text !== 'typo here' || ed.encrypted !== false) throw new Error('edited: ' + JSON.stringify(ed));

    // 4. We edit ours.
    const mine = await ours.send(alicePn, 'version one');
    await alice.wait(() => alice.received.find((m) => m.id === mine.id), 20000, 'our message');
    await call({ cmd: 'edit', profile: 'ours', chat: alicePn, id: mine.id, text: 'version two', client_id: 'e1' });
    const editOf = (m) => {
      const msg = m.raw?.message;
      const pm = msg?.protocolMessage || msg?.editedMessage?.message?.protocolMessage;
      return pm && pm.type === proto.Message.ProtocolMessage.Type.MESSAGE_EDIT && pm.key?.id === mine.id ? pm : null;
    };
    const seen = await alice.wait(() => alice.received.find(editOf), 20000, 'our edit');
    const pm = editOf(seen);
    const newText = pm.editedMessage?.conversation || pm.editedMessage?.extendedTextMessage?.text;
    if (newText !== 'version two') throw new Error('our edit as Baileys read it: ' + JSON.stringify(pm));

    // 5. The newer encrypted edit, sealed with the original's secret.
    const s2 = crypto.randomBytes(32);
    const origId = baileys.generateMessageID();
    await alice.sock.relayMessage(ourLid, { extendedTextMessage: { text: 'draft' }, messageContextInfo: { messageSecret: s2 } },
      { messageId: origId });
    await ours.wait((all) => all.find((e) => e.type === 'message' && e.id === origId), 20000, 'secret-carrying message');
    const targetKey = { remoteJid: ourLid, fromMe: true, id: origId };
    const inner = proto.Message.encode({ protocolMessage: { key: targetKey, type: proto.Message.ProtocolMessage.Type.MESSAGE_EDIT,
      editedMessage: { conversation: 'final' }, timestampMs: Date.now() } }).finish();
    const sealed = seal(addonKey(s2, origId + aliceLid + aliceLid + 'Message Edit'), inner, null);
    await alice.sock.relayMessage(ourLid, { secretEncryptedMessage: { targetMessageKey: targetKey, ...sealed,
      secretEncType: proto.Message.SecretEncryptedMessage.SecretEncType.MESSAGE_EDIT } }, { messageId: baileys.generateMessageID() });
    const enc = await ours.wait((all) => all.find((e) => e.type === 'edited' && e.target_id === origId), 20000, 'encrypted edit');
    if (enc.text !== 'final' || enc.encrypted !== true || enc.error) throw new Error('encrypted edit: ' + JSON.stringify(enc));

    const bad = ours.events.filter((e) => e.type === 'undecryptable');
    if (bad.length) throw new Error('undecryptable on our side: ' + JSON.stringify(bad));
    console.log('polls (both ways, votes opened on both sides) and edits (both ways, classic and encrypted): ok');
  } finally {
    await ours.stop();
  }
}, { serveArgs: ['--addressing', 'lid'] });
