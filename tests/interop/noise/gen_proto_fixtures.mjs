// Encodes a fixed set of messages with Baileys' own protobufjs code (and the
// npm libsignal for Whisper messages) and writes them as hex fixtures for
// tests/unit/noise/test_proto.cpp, which builds the same values with our
// generated C++ and compares bytes.
// usage: node gen_proto_fixtures.mjs <interop dir> <fixture file> [--check]
//   --check: fail if the file differs from what Baileys produces now.
import { createRequire } from 'module';
import path from 'path';
import fs from 'fs';

const [interopDir, outFile, mode] = process.argv.slice(2);
const require = createRequire(path.join(interopDir, 'package.json'));
const { proto } = await import(path.join(interopDir, 'node_modules/baileys/WAProto/index.js'));
const signalProto = require('libsignal/src/WhisperTextProtocol.js').textsecure;

const seq = (n, start = 0) => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));
const hex = (u8) => Buffer.from(u8).toString('hex');

const fixtures = [];
const add = (name, bytes) => fixtures.push([name, hex(bytes)]);

add('client_hello', proto.HandshakeMessage.encode({ clientHello: { ephemeral: seq(32, 1) } }).finish());
add('server_hello', proto.HandshakeMessage.encode({
  serverHello: { ephemeral: seq(32, 0x40), static: seq(48, 0x80), payload: seq(20, 0xc0) } }).finish());
add('client_finish', proto.HandshakeMessage.encode({ clientFinish: { static: seq(48, 7), payload: seq(5, 9) } }).finish());

const interDetails = proto.CertChain.NoiseCertificate.Details.encode({
  serial: 7, issuerSerial: 0, key: seq(32, 0x11), notBefore: 1700000000, notAfter: 4102444800 }).finish();
const leafDetails = proto.CertChain.NoiseCertificate.Details.encode({
  serial: 1234567, issuerSerial: 7, key: seq(32, 0x22), notBefore: 1700000000, notAfter: 1900000000 }).finish();
add('cert_details_intermediate', interDetails);
add('cert_chain', proto.CertChain.encode({
  leaf: { details: leafDetails, signature: seq(64, 0x33) },
  intermediate: { details: interDetails, signature: seq(64, 0x44) } }).finish());

const deviceProps = proto.DeviceProps.encode({
  os: 'Mac OS', platformType: proto.DeviceProps.PlatformType.CHROME, requireFullSync: false,
  historySyncConfig: { storageQuotaMb: 10240, inlineInitialPayloadInE2EeMsg: true, supportCallLogHistory: false,
    supportGroupHistory: false, supportMessageAssociation: true },
  version: { primary: 10, secondary: 15, tertiary: 7 } }).finish();
add('device_props', deviceProps);
const userAgent = {
  platform: proto.ClientPayload.UserAgent.Platform.WEB,
  appVersion: { primary: 2, secondary: 3000, tertiary: 1043857760 },
  mcc: '000', mnc: '000', osVersion: '0.1', device: 'Desktop', osBuildNumber: '0.1',
  releaseChannel: proto.ClientPayload.UserAgent.ReleaseChannel.RELEASE,
  localeLanguageIso6391: 'en', localeCountryIso31661Alpha2: 'US' };
add('client_payload_register', proto.ClientPayload.encode({
  connectType: proto.ClientPayload.ConnectType.WIFI_UNKNOWN,
  connectReason: proto.ClientPayload.ConnectReason.USER_ACTIVATED,
  userAgent, webInfo: { webSubPlatform: proto.ClientPayload.WebInfo.WebSubPlatform.WEB_BROWSER },
  passive: false, pull: false,
  devicePairingData: { buildHash: seq(16, 0xa0), deviceProps, eRegid: Buffer.from([0, 0, 0x30, 0x39]),
    eKeytype: Buffer.from([5]), eIdent: seq(32, 0x50), eSkeyId: Buffer.from([0, 0, 1]), eSkeyVal: seq(32, 0x60),
    eSkeySig: seq(64, 0x70) } }).finish());
add('client_payload_login', proto.ClientPayload.encode({
  connectType: proto.ClientPayload.ConnectType.WIFI_UNKNOWN,
  connectReason: proto.ClientPayload.ConnectReason.USER_ACTIVATED,
  userAgent, webInfo: { webSubPlatform: proto.ClientPayload.WebInfo.WebSubPlatform.WEB_BROWSER },
  passive: true, pull: true, username: 5511999887766, device: 3, lidDbMigrated: false,
  pushName: 'wa test' }).finish());

const advIdentity = proto.ADVDeviceIdentity.encode({ rawId: 987654321, timestamp: 1700000123, keyIndex: 2,
  accountType: proto.ADVEncryptionType.E2EE, deviceType: proto.ADVEncryptionType.HOSTED }).finish();
add('adv_device_identity', advIdentity);
const advSigned = proto.ADVSignedDeviceIdentity.encode({ details: advIdentity, accountSignatureKey: seq(32, 1),
  accountSignature: seq(64, 2), deviceSignature: seq(64, 3) }).finish();
add('adv_signed_device_identity', advSigned);
add('adv_signed_device_identity_hmac', proto.ADVSignedDeviceIdentityHMAC.encode({ details: advSigned,
  hmac: seq(32, 4), accountType: proto.ADVEncryptionType.HOSTED }).finish());
add('adv_key_index_list', proto.ADVKeyIndexList.encode({ rawId: 5, timestamp: 6, currentIndex: 3,
  validIndexes: [0, 1, 3, 300] }).finish());

add('message_extended_text', proto.Message.encode({
  extendedTextMessage: { text: 'olá, mundo', contextInfo: { stanzaId: '3EB0ABCDEF', participant: '5511999887766@s.whatsapp.net',
    quotedMessage: { conversation: 'earlier' }, mentionedJid: ['1@s.whatsapp.net', '2@s.whatsapp.net'] } },
  messageContextInfo: { deviceListMetadata: { senderKeyHash: seq(10, 1), senderTimestamp: 1700000000,
    senderKeyIndexes: [1, 2] , recipientKeyHash: seq(10, 2), recipientTimestamp: 1700000001 },
    deviceListMetadataVersion: 2, messageSecret: seq(32, 9) } }).finish());
add('message_device_sent', proto.Message.encode({
  deviceSentMessage: { destinationJid: '5511000000000@s.whatsapp.net', message: { conversation: 'hi' }, phash: '2:abc' },
  senderKeyDistributionMessage: { groupId: '120363000000000000@g.us', axolotlSenderKeyDistributionMessage: seq(40, 0x90) } }).finish());
add('message_protocol', proto.Message.encode({
  protocolMessage: { type: proto.Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION,
    key: { remoteJid: 'x@s.whatsapp.net', fromMe: true, id: 'ABC' },
    historySyncNotification: { fileSha256: seq(32), fileLength: 123456, mediaKey: seq(32, 5), fileEncSha256: seq(32, 6),
      directPath: '/v/t62/abc', syncType: proto.Message.HistorySyncType.INITIAL_BOOTSTRAP, chunkOrder: 1 } } }).finish());
add('message_image', proto.Message.encode({ imageMessage: { url: 'https://mmg.whatsapp.net/x', mimetype: 'image/jpeg',
  caption: 'cap', fileSha256: seq(32, 1), fileLength: 4096, height: 480, width: 640, mediaKey: seq(32, 2),
  fileEncSha256: seq(32, 3), directPath: '/v/x', mediaKeyTimestamp: 1700000000, jpegThumbnail: seq(8, 4) } }).finish());

add('sender_key_distribution', proto.SenderKeyDistributionMessage.encode({ id: 4000000000, iteration: 0,
  chainKey: seq(32, 1), signingKey: Buffer.concat([Buffer.from([5]), seq(32, 2)]) }).finish());
add('sender_key_message', proto.SenderKeyMessage.encode({ id: 1, iteration: 17, ciphertext: seq(16, 3) }).finish());
add('whisper_message', signalProto.WhisperMessage.encode({ ephemeralKey: Buffer.concat([Buffer.from([5]), seq(32, 1)]),
  counter: 3, previousCounter: 2, ciphertext: seq(16, 7) }).finish());
add('prekey_whisper_message', signalProto.PreKeyWhisperMessage.encode({ registrationId: 12345, preKeyId: 77,
  signedPreKeyId: 1, baseKey: Buffer.concat([Buffer.from([5]), seq(32, 8)]),
  identityKey: Buffer.concat([Buffer.from([5]), seq(32, 9)]), message: seq(20, 10) }).finish());

const text = '// Generated by tests/interop/noise/gen_proto_fixtures.mjs from Baileys\' protobufjs\n' +
  '// and the npm libsignal; do not edit. Checked by ctest interop.noise.proto_fixtures.\n' +
  fixtures.map(([n, h]) => `{"${n}", "${h}"},`).join('\n') + '\n';
if (mode === '--check') {
  const current = fs.readFileSync(outFile, 'utf8');
  if (current !== text) { console.error('fixtures differ from what Baileys encodes now; regenerate'); process.exit(1); }
  console.log(`${fixtures.length} fixtures match`);
} else {
  fs.writeFileSync(outFile, text);
  console.log(`wrote ${fixtures.length} fixtures to ${outFile}`);
}
