// An OPC UA client we did not write (node-opcua) reading DMW Twin's node layout by browse path.
//
// usage: node read_layout.js ENDPOINT STATION[,STATION...] AGV[,AGV...] WATCH_SECONDS [USER PASSWORD]
// environment: INTEROP_SECURITY=SignAndEncrypt (Basic256Sha256; default None), INTEROP_CERT_PEM /
// INTEROP_KEY_PEM / INTEROP_APP_URI (the client certificate to present and its application URI).
//
// Resolves the namespace index of urn:dmw-twin:shop from the server's NamespaceArray, finds
// Objects/Machines/<id>/... and Objects/AGVs/<id>/... with TranslateBrowsePathsToNodeIds, reads
// every variable once and prints {"namespaceIndex": n, "values": {"S01/ItemState": "Executing", ...}}
// as one line; then monitors each machine's ItemState and each AGV's X, prints {"subscribed": true}
// once the monitored items exist, and after WATCH_SECONDS prints {"changes": {"AGV1/X": [...], ...}}.
"use strict";
const {
    OPCUAClient, MessageSecurityMode, SecurityPolicy, AttributeIds, makeBrowsePath, TimestampsToReturn,
    ClientSubscription, ClientMonitoredItem, UserTokenType,
} = require("node-opcua-client");

const NS_URI = "urn:dmw-twin:shop";
const MACHINE_VARS = ["ItemState", "OperationMode", "Blocked", "Production/ActiveProgram/Name",
    "Production/ActiveProgram/JobId", "Production/ActiveProgram/WipId", "Production/ActiveProgram/ProductId",
    "Production/QueueLength",
    "Production/PartsCounter"];
const AGV_VARS = ["X", "Y", "Heading", "State", "Load", "Station"];

async function main() {
    const [endpoint, stations, agvs, watch, user, password] = process.argv.slice(2);
    const secure = process.env.INTEROP_SECURITY === "SignAndEncrypt";
    const client = OPCUAClient.create({
        applicationName: "node-opcua interop check",
        // the application URI must be the one in the certificate the test made for us
        ...(process.env.INTEROP_APP_URI ? { applicationUri: process.env.INTEROP_APP_URI } : {}),
        securityMode: secure ? MessageSecurityMode.SignAndEncrypt : MessageSecurityMode.None,
        securityPolicy: secure ? SecurityPolicy.Basic256Sha256 : SecurityPolicy.None,
        endpointMustExist: false,
        // a certificate the test made (PEM), so node-opcua does not spend seconds making its own
        ...(process.env.INTEROP_CERT_PEM ? {
            certificateFile: process.env.INTEROP_CERT_PEM, privateKeyFile: process.env.INTEROP_KEY_PEM,
        } : {}),
        connectionStrategy: { maxRetry: 2, initialDelay: 200, maxDelay: 1000 },
    });
    await client.connect(endpoint);
    const identity = user ? { type: UserTokenType.UserName, userName: user, password } : undefined;
    const session = await client.createSession(identity);
    try {
        const uris = (await session.read({ nodeId: "ns=0;i=2255", attributeId: AttributeIds.Value })).value.value;
        const ns = uris.indexOf(NS_URI);
        if (ns < 0) throw new Error(`namespace ${NS_URI} not in ${uris}`);
        const wanted = [];
        for (const id of stations.split(",")) {
            for (const v of MACHINE_VARS) wanted.push([`${id}/${v}`, ["Machines", id, ...v.split("/")]]);
        }
        for (const id of agvs.split(",")) {
            for (const v of AGV_VARS) wanted.push([`${id}/${v}`, ["AGVs", id, ...v.split("/")]]);
        }
        // a browse path in the text form of OPC UA Part 4 A.2, names qualified by our index
        const paths = wanted.map(([, parts]) =>
            makeBrowsePath("RootFolder", "/Objects/" + parts.map((p) => `${ns}:${p}`).join("/")));
        const results = await session.translateBrowsePath(paths);
        const nodeIds = {};
        results.forEach((r, i) => {
            if (r.statusCode.isGood()) nodeIds[wanted[i][0]] = r.targets[0].targetId;
        });
        const values = {};
        const keys = Object.keys(nodeIds);
        const dvs = await session.read(keys.map((k) => ({ nodeId: nodeIds[k], attributeId: AttributeIds.Value })));
        dvs.forEach((dv, i) => {
            const v = dv.value.value;
            values[keys[i]] = dv.statusCode.isGood() ? (typeof v === "bigint" ? Number(v) : v) : null;
        });
        process.stdout.write(JSON.stringify({ namespaceIndex: ns, values }) + "\n");
        const changes = {};
        const sub = ClientSubscription.create(session, {
            requestedPublishingInterval: 100, requestedLifetimeCount: 100, requestedMaxKeepAliveCount: 10,
            maxNotificationsPerPublish: 1000, publishingEnabled: true, priority: 1,
        });
        const watched = keys.filter((k) => k.endsWith("/ItemState") || k.endsWith("/X"));
        const ready = [];
        for (const k of watched) {
            changes[k] = [];
            const item = ClientMonitoredItem.create(sub, { nodeId: nodeIds[k], attributeId: AttributeIds.Value },
                { samplingInterval: 0, discardOldest: true, queueSize: 100 }, TimestampsToReturn.Both);
            item.on("changed", (dv) => { if (dv.statusCode.isGood()) changes[k].push(dv.value.value); });
            ready.push(new Promise((resolve, reject) => { item.on("initialized", resolve); item.on("err", reject); }));
        }
        await Promise.all(ready);
        await new Promise((resolve) => setTimeout(resolve, 300));  // initial values delivered
        process.stdout.write(JSON.stringify({ subscribed: true }) + "\n");
        await new Promise((resolve) => setTimeout(resolve, 1000 * Number(watch)));
        await sub.terminate();
        process.stdout.write(JSON.stringify({ changes }) + "\n");
    } finally {
        await session.close();
        await client.disconnect();
    }
}

main().catch((err) => {
    process.stderr.write(`interop client failed: ${err && err.message ? err.message : err}\n`);
    process.exit(1);
});
