// Three stock Baileys clients: Alice creates a group with Bob and Carol;
// a message from each member decrypts at the two others (pairwise SKDM
// before the shared skmsg). usage: node group_chat.mjs <interop dir> <wa-testserver>
import { runScenario, fail } from './harness.mjs';

await runScenario(['alice', 'bob', 'carol'], async ({ server, verifier, clients }) => {
  const [alice, bob, carol] = clients;
  await alice.pair('155521');
  await bob.pair('155522');
  await carol.pair('155523');
  const group = await alice.sock.groupCreate('interop group', [bob.user, carol.user]);
  if (!group.id.endsWith('@g.us')) fail('group id ' + group.id);
  const meta = await bob.sock.groupMetadata(group.id);
  if (meta.participants.length !== 3) fail('metadata lists ' + meta.participants.length + ' participants');

  for (const sender of clients) {
    const text = 'group hello from ' + sender.name;
    await sender.send(group.id, text);
    for (const other of clients) {
      if (other === sender) continue;
      await other.wait(() => other.texts((m) => m.from === group.id).includes(text), 15000, 'group text from ' + sender.name);
    }
  }
  // A second round uses the sender keys already distributed (skmsg only).
  await bob.send(group.id, 'second round');
  await alice.wait(() => alice.texts((m) => m.from === group.id).includes('second round'), 15000, 'second round at alice');
  await carol.wait(() => carol.texts((m) => m.from === group.id).includes('second round'), 15000, 'second round at carol');

  // Membership changes: Carol is removed and gets nothing more.
  await alice.sock.groupParticipantsUpdate(group.id, [carol.user], 'remove');
  const after = await alice.sock.groupMetadata(group.id);
  if (after.participants.length !== 2) fail('remove did not shrink the group');
  console.log('group of three: every member decrypts every other member: ok');
});
