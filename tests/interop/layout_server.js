// An OPC UA server we did not write (node-opcua) exposing DMW Twin's documented node layout
// (docs/connectors.md, "OPC UA"), for tests/twin/test_opcua_interop.py to read with our client.
//
// usage: node layout_server.js PORT SHIFT_START_ISO MACHINE[,MACHINE...] AGV[,AGV...]
//
// Builds, in the namespace urn:dmw-twin:shop (registered after node-opcua's own, so its index is
// whatever the server makes it): Objects/Shop/{ShiftStart,Workshop}, Objects/Machines/<id>/
// {ItemState, OperationMode, Blocked, Production/{QueueLength, PartsCounter, ActiveProgram/
// {Name, JobId, WipId, ProductId}}} and Objects/AGVs/<id>/{X, Y, Heading, State, Load, Station}.
// A machine whose id ends in "-" is built the way a plain Machinery server might be: ItemState
// only (no OperationMode, no Blocked, no Production), to exercise the documented fallbacks.
// Prints {"ready": true, "endpoint": ...} once it listens. Then reads JSON lines on stdin:
// {"t": SECONDS, "set": {"S01/ItemState": "Executing", "AGV1/X": 2.5, ...}} sets each value
// with SourceTimestamp = ShiftStart + t and answers {"set": n}; {"quit": true} shuts down.
// Security: None, anonymous (the secure direction is checked by read_layout.js against ours).
"use strict";
const readline = require("readline");
const { OPCUAServer } = require("node-opcua-server");
// the shared data types, as node-opcua-client re-exports them (both locked at one version)
const { DataType, Variant, StatusCodes, SecurityPolicy, MessageSecurityMode } = require("node-opcua-client");

const NS_URI = "urn:dmw-twin:shop";

async function main() {
    const [port, shiftStartIso, machines, agvs] = process.argv.slice(2);
    const shiftStart = new Date(shiftStartIso);
    const server = new OPCUAServer({
        port: Number(port),
        hostname: "127.0.0.1",
        securityPolicies: [SecurityPolicy.None],
        securityModes: [MessageSecurityMode.None],
        allowAnonymous: true,
        buildInfo: { productName: "node-opcua layout server (DMW Twin interop check)" },
    });
    await server.initialize();
    const addressSpace = server.engine.addressSpace;
    const ns = addressSpace.registerNamespace(NS_URI);
    const objects = addressSpace.rootFolder.objects;
    const vars = {};  // "S01/ItemState" -> [variable, DataType]

    function variable(parent, name, dataType, value, key) {
        const v = ns.addVariable({
            componentOf: parent, browseName: name, dataType: DataType[dataType],
        });
        v.setValueFromSource(new Variant({ dataType: DataType[dataType], value }), StatusCodes.Good,
            shiftStart);
        vars[key] = [v, DataType[dataType]];
        return v;
    }

    const shop = ns.addFolder(objects, { browseName: "Shop" });
    variable(shop, "ShiftStart", "DateTime", shiftStart, "Shop/ShiftStart");
    variable(shop, "Workshop", "String", "interop-cell", "Shop/Workshop");

    const machinesFolder = ns.addFolder(objects, { browseName: "Machines" });
    for (const raw of machines.split(",").filter(Boolean)) {
        const plain = raw.endsWith("-");
        const id = plain ? raw.slice(0, -1) : raw;
        const m = ns.addObject({ organizedBy: machinesFolder, browseName: id });
        variable(m, "ItemState", "String", "NotExecuting", `${id}/ItemState`);
        if (plain) continue;
        variable(m, "OperationMode", "String", "Processing", `${id}/OperationMode`);
        variable(m, "Blocked", "Boolean", false, `${id}/Blocked`);
        const prod = ns.addObject({ componentOf: m, browseName: "Production" });
        const prog = ns.addObject({ componentOf: prod, browseName: "ActiveProgram" });
        for (const name of ["Name", "JobId", "WipId", "ProductId"]) {
            variable(prog, name, "String", "", `${id}/Production/ActiveProgram/${name}`);
        }
        variable(prod, "QueueLength", "UInt32", 0, `${id}/Production/QueueLength`);
        variable(prod, "PartsCounter", "UInt32", 0, `${id}/Production/PartsCounter`);
    }
    const agvFolder = ns.addFolder(objects, { browseName: "AGVs" });
    for (const id of agvs.split(",").filter(Boolean)) {
        const a = ns.addObject({ organizedBy: agvFolder, browseName: id });
        for (const name of ["X", "Y", "Heading"]) variable(a, name, "Double", 0.0, `${id}/${name}`);
        variable(a, "State", "String", "idle", `${id}/State`);
        variable(a, "Load", "String", "", `${id}/Load`);
        variable(a, "Station", "String", "", `${id}/Station`);
    }

    await server.start();
    const endpoint = server.getEndpointUrl();
    console.log(JSON.stringify({ ready: true, endpoint }));

    const rl = readline.createInterface({ input: process.stdin });
    for await (const line of rl) {
        if (!line.trim()) continue;
        const cmd = JSON.parse(line);
        if (cmd.quit) break;
        const when = new Date(shiftStart.getTime() + cmd.t * 1000);
        let n = 0;
        for (const [key, value] of Object.entries(cmd.set)) {
            const [v, dataType] = vars[key];
            v.setValueFromSource(new Variant({ dataType, value }), StatusCodes.Good, when);
            n += 1;
        }
        console.log(JSON.stringify({ set: n }));
    }
    await server.shutdown(0);
    process.exit(0);
}

main().catch((err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
});
