"""TensorBoard basics: a logistic regression whose parts are grouped by ``tf.name_scope``,
with ``tf.summary.scalar`` for the loss and accuracy, ``tf.summary.merge_all`` and a
``tf.summary.FileWriter`` (the "TensorBoard basic" listing of the classic TensorFlow 1 examples).

Written for TensorFlow 1; only the import lines differ. The course trains 25
epochs and logs to /tmp/tensorflow_logs; this copy trains 200 steps and logs to
./logs in the working directory.
"""

from __future__ import print_function

import opcore.compat.v1 as tf

# Import MNIST data
from opcore.compat.v1.examples.tutorials.mnist import input_data

mnist = input_data.read_data_sets("/tmp/data/", one_hot=True)

# Parameters
learning_rate = 0.01
num_steps = 200
batch_size = 100
display_step = 100
logs_path = "./logs/example/"

# tf Graph Input
# mnist data image of shape 28*28=784
x = tf.placeholder(tf.float32, [None, 784], name="InputData")
# 0-9 digits recognition => 10 classes
y = tf.placeholder(tf.float32, [None, 10], name="LabelData")

# Set model weights
W = tf.Variable(tf.zeros([784, 10]), name="Weights")
b = tf.Variable(tf.zeros([10]), name="Bias")

# Construct model and encapsulating all ops into scopes, making
# Tensorboard's Graph visualization more convenient
with tf.name_scope("Model"):
    # Model
    pred = tf.nn.softmax(tf.matmul(x, W) + b)  # Softmax
with tf.name_scope("Loss"):
    # Minimize error using cross entropy
    cost = tf.reduce_mean(-tf.reduce_sum(y * tf.log(pred), reduction_indices=1))
with tf.name_scope("SGD"):
    # Gradient Descent
    optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(cost)
with tf.name_scope("Accuracy"):
    # Accuracy
    acc = tf.equal(tf.argmax(pred, 1), tf.argmax(y, 1))
    acc = tf.reduce_mean(tf.cast(acc, tf.float32))

print("names:", pred.name, cost.name, acc.name)

# Initialize the variables (i.e. assign their default value)
init = tf.global_variables_initializer()

# Create a summary to monitor cost tensor
tf.summary.scalar("loss", cost)
# Create a summary to monitor accuracy tensor
tf.summary.scalar("accuracy", acc)
# Merge all summaries into a single op
merged_summary_op = tf.summary.merge_all()

# Start training
with tf.Session() as sess:
    # Run the initializer
    sess.run(init)

    # op to write logs to Tensorboard
    summary_writer = tf.summary.FileWriter(logs_path, graph=tf.get_default_graph())

    for step in range(1, num_steps + 1):
        batch_xs, batch_ys = mnist.train.next_batch(batch_size)
        # Run optimization op (backprop), cost op (to get loss value)
        # and summary nodes
        _, c, summary = sess.run([optimizer, cost, merged_summary_op], feed_dict={x: batch_xs, y: batch_ys})
        # Write logs at every iteration
        summary_writer.add_summary(summary, step)
        if step % display_step == 0:
            print("Step:", "%04d" % step, "cost=", "{:.9f}".format(c))

    summary_writer.close()
    print("Optimization Finished!")

    # Test model
    # Calculate accuracy
    print("Accuracy:", acc.eval({x: mnist.test.images, y: mnist.test.labels}))

    print(
        "Run the command line:\n--> tensorboard --logdir=./logs \nThen open http://0.0.0.0:6006/ into your web browser"
    )
