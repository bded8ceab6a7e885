// Creates the stack's ACLs in one admin request: `java -cp "<kafka libs>/*" Acls.java <client.properties> <acls>`,
// one ACL a line: `User:<name> <Operation> <Topic|Group|Cluster> <resource name> <LITERAL|PREFIXED>`.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Acls {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (var in = Files.newInputStream(Path.of(args[0]))) {
            props.load(in);
        }
        List<AclBinding> bindings = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(args[1]))) {
            if (line.isBlank()) continue;
            String[] f = line.trim().split(" ");
            ResourceType type = ResourceType.fromString(f[2].toUpperCase());
            bindings.add(new AclBinding(new ResourcePattern(type, f[3], PatternType.fromString(f[4])),
                new AccessControlEntry(f[0], "*", AclOperation.fromString(f[1].toUpperCase()), AclPermissionType.ALLOW)));
        }
        try (Admin admin = Admin.create(props)) {
            admin.createAcls(bindings).all().get();
        }
        System.out.println("created " + bindings.size() + " ACLs");
    }
}
